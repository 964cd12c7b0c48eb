#!/usr/bin/env bash
# Writes the seed corpus of protocol_fuzz (tests/fuzz/corpus/protocol/seed-*)
# and the regression inputs of defects it found (regress-*).
# Each input is two control bytes and the client's bytes (see the comment at
# the top of protocol_fuzz.c): byte 0 is max_line ('@' = 64, '~' = 126,
# \010 = 8; \360 the stream's length - PR_FRAME_SLACK; \370.. a big value),
# byte 1 the read pattern ('0' one byte per read ... '7' reads of up to 4096
# bytes, into a receive buffer of max_line + PR_FRAME_SLACK bytes).
# Other inputs kept there (a fuzzer's finds, named by their SHA-1) are left
# alone.
# shellcheck disable=SC2016  # '$' is RESP's bulk marker, not an expansion
set -euo pipefail
cd "$(dirname "$0")"
dir=corpus/protocol
mkdir -p "$dir"
rm -f "$dir"/seed-*

seed() { # seed NAME FORMAT...: printf FORMAT into seed-NAME
  local name=$1
  shift
  # shellcheck disable=SC2059  # the format is the point
  printf "$@" > "$dir/seed-$name"
}
rep() { # rep N STRING: STRING N times
  local i out=""
  for ((i = 0; i < $1; i++)); do out+=$2; done
  printf '%s' "$out"
}

# --- text ------------------------------------------------------------------
seed text-ping '@0PING\n'
seed text-ping-crlf '@1PING\r\n'
seed text-echo '@2ECHO hello world\r\n'
seed text-echo-empty '@3ECHO \nECHO  a\nECHO\n'
seed text-hash '@3HASH good data\n'
seed text-numbers '@4PRIMES 100\nPRIMES 2147483647\nPRIMES 2147483648\nPRIMES -1\nPRIMES 0x10\nPRIMES 007\nPRIMES\n'
seed text-sleep '@5SLEEP 0\nSLEEP 60000\nSLEEP 60001\nSLEEP 1s\n'
seed text-case '@6ping\nPiNg\r\necho X\r\nstats\n'
seed text-courtesy '@7QUIT\nCOMMAND\nCOMMAND DOCS\nCONFIG GET save\nHELLO 3\nCLIENT SETNAME x\n'
seed text-bad-args '@0PING extra\nPING \nSTATS x\nHASH\n'
seed text-unknown '@1bad stuff\n PING\nPING\t\na\0b\001\377'"'"'\\\177\n'
seed text-empty-lines '@2\n\r\n\n'
seed text-binary-arg '@3ECHO a\0b\377\001 z\nHASH \0\001\n'
seed text-pipeline '@1PING\nECHO a\r\n\nPRIMES 10\nbad\nHASH x'
seed text-max-line-exact '\010\060ECHO 123\nECHO 123\r\n'
seed text-too-long '\010\061ECHO 1234\n'
seed text-too-long-crlf '\010\062ECHO 1234\r\n'
seed text-cr-at-limit '\010\063ECHO 123\r'
seed text-cr-then-byte '\010\064ECHO 123\rx'
seed text-no-newline '\020\065%s' "$(rep 40 x)"
seed text-max-line-0 '\000\060\r\n\nP'
seed text-big-max-line '\370\066PING\nECHO hi\n'
seed text-huge-max-line '\377\067PING\nPING'

# --- RESP2 -------------------------------------------------------------------
seed resp-ping '@0*1\r\n$4\r\nPING\r\n'
seed resp-echo '@1*2\r\n$4\r\necho\r\n$5\r\nhello\r\n'
seed resp-echo-crlf-data '@2*2\r\n$4\r\nECHO\r\n$12\r\nhello\r\nthere\r\n'
seed resp-echo-empty '@3*2\r\n$4\r\nECHO\r\n$0\r\n\r\n'
seed resp-hash-binary '@4*2\r\n$4\r\nHASH\r\n$6\r\n\r\n\0*$\377\r\n'
seed resp-primes '@5*2\r\n$6\r\nPRIMES\r\n$10\r\n2147483647\r\n'
seed resp-sleep '@6*2\r\n$5\r\nSLEEP\r\n$5\r\n60001\r\n'
seed resp-client '@7*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$9\r\nredis-cli\r\n'
seed resp-config '@0*3\r\n$6\r\nconfig\r\n$3\r\nget\r\n$4\r\nsave\r\n*1\r\n$7\r\nCOMMAND\r\n*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n'
seed resp-wrong-args '@1*1\r\n$4\r\nHASH\r\n*3\r\n$4\r\nECHO\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$4\r\nPING\r\n$1\r\nx\r\n'
seed resp-unknown '@2*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n*1\r\n$0\r\n\r\n*1\r\n$4\r\na\r\nb\r\n'
seed resp-mixed '@3*1\r\n$4\r\nPING\r\nECHO t\r\n*2\r\n$4\r\nECHO\r\n$1\r\nr\r\n*2\r\n$4'
seed resp-bad-count '@4*x\r\n'
seed resp-zero-count '@5*0\r\n'
seed resp-negative-count '@6*-1\r\n'
seed resp-count-too-large '@7*1025\r\n'
seed resp-count-leading-zero '@0*01\r\n'
seed resp-count-lf-only '@1*1\n'
seed resp-not-bulk '@2*1\r\n+PING\r\n'
seed resp-negative-bulk '@3*1\r\n$-1\r\n'
seed resp-bulk-leading-zero '@4*1\r\n$04\r\nPING\r\n'
seed resp-bulk-no-crlf '@5*1\r\n$4\r\nPINGxx'
seed resp-bulk-lf-cr '@6*1\r\n$4\r\nPING\n\r'
seed resp-nested '@7*2\r\n$4\r\nECHO\r\n*1\r\n'
seed resp-bulk-too-long '\020\060*1\r\n$17\r\n'
seed resp-bulk-digits-too-long '\020\061*1\r\n$99999999999999999999999'
seed resp-bulk-at-max '\020\062*2\r\n$4\r\nECHO\r\n$16\r\n0123456789abcdef\r\n'
seed resp-big-count-waits '@3*1024\r\n$1\r\nx\r\n'
seed resp-huge-max-line '\377\064*1\r\n$18446744073709551615'
seed resp-huge-max-line-over '\377\065*1\r\n$18446744073709551616'
# A frame longer than max_line + PR_FRAME_SLACK: with max_line 40 the limit
# (and the next 7 the target also tries) falls inside bulk data, where
# pr_parse answers -E2BIG; a little change puts it in a header (defect (a)).
seed resp-long-frame '(0*1024\r\n%b' "$(rep 6 '$30\r\n012345678901234567890123456789\r\n')"

# The stream fills the receive buffer exactly (max_line = its length - 128 =
# 10) and ends inside bulk data: -E2BIG. Ending a few bytes earlier, in a
# header, is defect (a).
seed resp-fills-buffer '\360\060*1024\r\n%b$1\r\nx' "$(rep 18 '$1\r\nx\r\n')"

# --- regressions: defects protocol_fuzz found on main at 9a100f2 ----------
# (a) a RESP frame cut inside a header at exactly max_line + PR_FRAME_SLACK
#     bytes: pr_parse returned 0 instead of -E2BIG.
printf '\000\060*1024\r\n%b$' "$(rep 20 '$0\r\n\r\n')" > "$dir/regress-a-resp-header-cut-at-frame-limit"
# (b) a text ECHO with a \r inside: the text reply carried a raw \r.
printf '@0ECHO a\rb\n' > "$dir/regress-b-text-echo-raw-cr"
