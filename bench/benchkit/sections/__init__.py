"""Report sections. Each is a class with:

  key       its name in b.results (later sections may read earlier ones)
  title     its heading; the report numbers sections in run order
  measure(b)   runs the tools and keeps the figures on self; raises
               ToolError when a tool fails, never because of a figure
  headline(b)  [(figure, value)] rows for the headline table (may be [])
  render(b)    the section's Markdown body; writes its plots and data
               files under b.assets

To add a section: a module here with such a class, and one line in
SECTIONS in bench/run.py. Servers come from benchkit.servers (context
managers that stop them and check exit 0), load from benchkit.loadgen,
/proc figures from benchkit.procfs, syscall counts from benchkit.strace.
"""


class Section:
    key = ""
    title = ""

    def measure(self, b):
        raise NotImplementedError

    def headline(self, b):
        return []

    def render(self, b):
        raise NotImplementedError
