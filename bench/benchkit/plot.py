"""PNG plots through gnuplot (pngcairo). Python writes the data files and
the script; gnuplot draws. A gnuplot error is a ToolError."""

from .proc import ToolError

TERMINAL = 'set terminal pngcairo noenhanced size {w},{h} font ",10"'

# One colour per server or per worker count, the same in every plot.
REDIS_COLOUR = "#c0392b"   # redis-server: red
OURS_COLOUR = "#1f5fa8"    # pool_server: blue
WORKER_COLOURS = ("#7b3294", "#008837", "#e66101", "#0571b0", "#ca0020")


def gnuplot(b, script):
    rc, out, err = b.procs.run(["gnuplot"], input=script, log_cmd=False)
    if rc != 0:
        raise ToolError(f"gnuplot failed (exit {rc}): {err.strip()[-1500:]}")


def _q(s):
    """A gnuplot double-quoted string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def sweep_plots(b, dat_path, title, series, x_values, png_tput, png_p99):
    """Throughput and p99 against clients (log x), one line per series.
    dat_path: columns x, then (rps, p99) per series, in order."""
    lines = []
    for i, name in enumerate(series):
        colour = WORKER_COLOURS[i % len(WORKER_COLOURS)]
        lines.append((name, colour, 2 + 2 * i, 3 + 2 * i))
    xtics = ", ".join(str(x) for x in x_values)

    def plot_cmd(col_index):
        return "plot " + ", \\\n     ".join(
            f"{_q(str(dat_path))} using 1:{l[col_index]} with linespoints lw 2 pt {7 + i} "
            f"ps 1.2 lc rgb {_q(l[1])} title {_q(l[0])}"
            for i, l in enumerate(lines))

    script = f"""{TERMINAL.format(w=800, h=480)}
set key top left
set logscale x
set xtics ({xtics})
set xrange [{min(x_values) * 0.8}:{max(x_values) * 1.3}]
set xlabel "clients (no pipelining)"
set grid
set output {_q(str(png_tput))}
set title {_q(title + ": throughput")}
set ylabel "requests/s"
set yrange [0:*]
{plot_cmd(2)}
set output {_q(str(png_p99))}
set title {_q(title + ": p99 latency")}
set ylabel "p99 latency (us)"
set logscale y
set format y "%.0f"
set yrange [*:*]
{plot_cmd(3)}
"""
    gnuplot(b, script)


def bar_panels(b, png, title, panels, legend, ylabel="requests/s"):
    """Side-by-side panels of bars, each panel with its own linear axis
    from 0, so that a panel of small values is not flattened by a panel of
    large ones.

    panels: [(panel title, [(bar label, value, series, label text)])]
    legend: [(series, legend title, colour, fill)] with fill a gnuplot
    fill style ("solid 0.85" or "pattern 4")."""
    style = {s: (t, c, f) for s, t, c, f in legend}
    n = len(panels)
    out = [TERMINAL.format(w=max(800, 420 * n), h=520),
           f"set output {_q(str(png))}",
           f"set multiplot layout 1,{n} title {_q(title)}",
           "set style fill border -1",
           "set boxwidth 0.7",
           "set grid ytics",
           f"set ylabel {_q(ylabel)}",
           "set key top center vertical samplen 2 spacing 1.3 box opaque"]
    nblock = 0
    for p_title, bars in panels:
        top = max([v for _, v, _, _ in bars] + [1])
        scale, unit = next((sc, u) for sc, u in ((1e6, "M"), (1e3, "k"), (1, "")) if top >= sc or sc == 1)
        out += [f"set title {_q(p_title)}",
                f'set format y "%g{unit}"',
                f"set yrange [0:{top * 1.35 / scale:.6g}]",
                f"set xrange [-0.6:{len(bars) - 0.4}]",
                "set xtics (" + ", ".join(f"{_q(lbl)} {i}" for i, (lbl, _, _, _) in enumerate(bars))
                + ") nomirror",
                "unset label"]
        out += [f"set label {_q(text)} at {i},{v / scale:.6g} center offset 0,1.5"
                for i, (_, v, _, text) in enumerate(bars)]
        plots = []
        for series in dict.fromkeys(s for _, _, s, _ in bars):
            t, c, f = style[series]
            nblock += 1
            out.append(f"$bars{nblock} << EOD")
            out += [f"{i} {v / scale:.6g}" for i, (_, v, s, _) in enumerate(bars) if s == series]
            out.append("EOD")
            plots.append(f"$bars{nblock} using 1:2 with boxes fs {f} lc rgb {_q(c)} title {_q(t)}")
        out.append("plot " + ", \\\n     ".join(plots))
    out.append("unset multiplot")
    gnuplot(b, "\n".join(out) + "\n")
