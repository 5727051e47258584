"""Traffic-light lambdas in each shape cyber-dojo's images use, with outputs and their colours.

Written for these tests (not taken from any image). Each sample is (stdout, stderr, status,
colour); the differential test also feeds every lambda outputs made from its `words`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Sample = tuple[str, str, int, str]


@dataclass(frozen=True)
class Lambda:
    name: str
    text: str
    samples: list[Sample]
    words: list[str] = field(default_factory=list)


LAMBDAS = [
    Lambda(
        "regex lines and a default",
        """
lambda { |stdout, stderr, status|
  output = stdout + stderr
  return :red   if /(\\d+) tests? failed/.match(output)
  return :green if /All (\\d+) tests passed/.match(output)
  return :amber
}
""",
        [
            ("All 3 tests passed\n", "", 0, "green"),
            ("2 tests failed\n", "", 1, "red"),
            ("", "syntax error\n", 2, "amber"),
            ("All 3 tests", " passed", 0, "green"),  # stdout + stderr joined
        ],
        ["All 3 tests passed", "1 test failed", "2 tests failed", "All", "tests"],
    ),
    Lambda(
        "=~, include?, unless and a bare colour",
        """
lambda { |out, err, code|
  text = out + err
  return :amber if text.include?('error: ')
  return :red if text =~ /^FAIL/
  return :amber unless /^OK \\(/ =~ text
  :green
}
""",
        [
            ("OK (3 tests)\n", "", 0, "green"),
            ("FAIL: x\nOK (3)", "", 1, "red"),
            ("xFAIL\n", "", 1, "amber"),
            ("OK (1)", "error: y", 0, "amber"),
        ],
        ["OK (2 tests)", "FAIL", "error: ", "error:", "x"],
    ),
    Lambda(
        "if, elsif, else with && || ! and parentheses",
        """
lambda { |stdout, stderr, status|
  output = stdout + stderr
  if /Compilation failed/.match(output) || (/warning/.match(stderr) && !/-Wno/.match(stderr))
    :amber
  elsif /FAILED/.match(stdout) and not /0 FAILED/.match(stdout)
    :red
  else
    :green
  end
}
""",
        [
            ("Compilation failed", "", 1, "amber"),
            ("ok", "warning: x", 0, "amber"),
            ("ok", "warning: -Wno-x", 0, "green"),
            ("2 FAILED", "", 1, "red"),
            ("0 FAILED", "", 0, "green"),
        ],
        ["Compilation failed", "warning", "-Wno", "FAILED", "0 FAILED", "2 "],
    ),
    Lambda(
        "status conditions",
        """
lambda { |stdout, stderr, status|
  return :amber if [2, 127].include?(status)
  return :red if status != 0 && /FAIL/.match(stdout)
  return :amber if status > 128
  return :green if status.zero?
  return status == 1 ? :red : :amber
}
""",
        [
            ("", "", 0, "green"),
            ("FAIL", "", 1, "red"),
            ("", "", 1, "red"),
            ("", "", 2, "amber"),
            ("", "", 139, "amber"),
            ("FAIL", "", 139, "red"),
            ("", "", 3, "amber"),
        ],
        ["FAIL", "ok"],
    ),
    Lambda(
        "a loop over a word list building a regex",
        """
lambda { |stdout, stderr, status|
  output = stdout + stderr
  return :amber if /=== ERRORS ===/.match(output)
  %w(
    Attribute
    Name
    Type
  ).each do |kind|
    return :amber if
      /=== FAILURES ===/.match(output) &&
        Regexp.new(".*:[0-9]+: #{kind}Error").match(output)
  end
  return :green if /=== (\\d+) passed/.match(output)
  return :red
}
""",
        [
            ("=== 3 passed ===", "", 0, "green"),
            ("=== FAILURES ===\nt.py:3: NameError", "", 1, "amber"),
            ("=== FAILURES ===\nt.py:3: AssertionError", "", 1, "red"),
            ("=== ERRORS ===", "", 2, "amber"),
        ],
        [
            "=== ERRORS ===",
            "=== FAILURES ===",
            "t.py:3: NameError",
            "x.py:12: TypeError",
            "a.py:1: AssertionError",
            "=== 2 passed",
        ],
    ),
    Lambda(
        "word lists: any?, Regexp.union, join",
        """
lambda { |stdout, stderr, status|
  output = stdout + stderr
  fatal = ['Segmentation fault', 'core dumped']
  return :amber if fatal.any? { |w| output.include?(w) }
  return :amber if Regexp.union('a.out:', '(ld)').match(output)
  return :red if Regexp.new(%w(FAILED FAILURE Error).join('|')).match(output)
  return :green if /PASS/.match(output)
  return :amber
}
""",
        [
            ("Segmentation fault", "", 139, "amber"),
            ("(ld) returned 1", "", 1, "amber"),
            ("(l) returned 1 PASS", "", 1, "green"),
            ("FAILURE", "", 1, "red"),
            ("PASS", "", 0, "green"),
        ],
        [
            "Segmentation fault",
            "core dumped",
            "a.out:",
            "aXout:",
            "(ld)",
            "ld",
            "FAILED",
            "Error",
            "PASS",
        ],
    ),
    Lambda(
        "a match's captures with to_i, a ternary and guard",
        """
lambda { |stdout, stderr, status|
  output = stdout + stderr
  pattern = Regexp.new('^(\\d+) runs, (\\d+) assertions, (\\d+) failures, (\\d+) errors')
  if match = pattern.match(output)
    return :amber if match[4] != '0'
    return match[3].to_i > 0 ? :red : :green
  else
    return :amber
  end
}
""",
        [
            ("3 runs, 3 assertions, 0 failures, 0 errors", "", 0, "green"),
            ("3 runs, 3 assertions, 2 failures, 0 errors", "", 1, "red"),
            ("3 runs, 3 assertions, 0 failures, 1 errors", "", 1, "amber"),
            ("x3 runs, 3 assertions, 0 failures, 0 errors", "", 0, "amber"),
        ],
        [
            "3 runs, 3 assertions, 0 failures, 0 errors",
            "1 runs, 2 assertions, 1 failures, 0 errors",
            "2 runs, 2 assertions, 0 failures, 3 errors",
            "runs",
        ],
    ),
    Lambda(
        "captures with arithmetic and a named group",
        """
lambda { |stdout, stderr, status|
  m = /passed=(?<passed>\\d+), failed=(?<failed>\\d+), skipped=(?<skipped>\\d+)/.match(stdout)
  return :amber if m.nil?
  return :red if m[:failed].to_i + m[3].to_i > 0 && m['passed'].to_i - 1 >= 0
  return :amber if m[2].to_i > 0
  return :green
}
""",
        [
            ("passed=3, failed=0, skipped=0", "", 0, "green"),
            ("passed=3, failed=1, skipped=0", "", 1, "red"),
            ("passed=0, failed=1, skipped=0", "", 1, "amber"),
            ("nothing", "", 1, "amber"),
        ],
        [
            "passed=3, failed=0, skipped=0",
            "passed=0, failed=2, skipped=1",
            "passed=1, failed=0, skipped=4",
            "passed=",
        ],
    ),
    Lambda(
        "scan: any? over rows and a count",
        """
lambda { |stdout, stderr, status|
  output = stdout + stderr
  ran = /Ran (\\d+) tests containing (\\d+) assertions.\\s*(\\d+) failures, (\\d+) errors./
  return :amber if /Exception in thread/.match(output)
  return :red if output.scan(ran).any? { |res| res[2] != '0' || res[3] != '0' }
  return :amber if output.scan(/^WARN/).size >= 2
  return :green if output.scan(ran).any? { |tests, asserts, f, e| f == '0' && e == '0' }
  return :amber
}
""",
        [
            ("Ran 2 tests containing 2 assertions.\n0 failures, 0 errors.", "", 0, "green"),
            ("Ran 2 tests containing 2 assertions.\n1 failures, 0 errors.", "", 1, "red"),
            (
                "WARN a\nWARN b\nRan 2 tests containing 2 assertions. 0 failures, 0 errors.",
                "",
                0,
                "amber",
            ),
            ("Exception in thread main", "", 1, "amber"),
        ],
        [
            "Ran 2 tests containing 2 assertions.",
            "0 failures, 0 errors.",
            "1 failures, 0 errors.",
            "WARN",
            "Exception in thread",
        ],
    ),
    Lambda(
        "Ruby anchors: ^ $ \\A \\z \\Z",
        """
lambda { |stdout, stderr, status|
  return :amber if /^$/.match(stdout)
  return :red if /\\Afail/.match(stdout)
  return :red if /done\\z/.match(stdout)
  return :green if /ok\\Z/.match(stdout)
  return :amber
}
""",
        [
            ("a\n", "", 0, "amber"),  # Ruby's ^ does not match after the last newline
            ("a\n\nb", "", 0, "amber"),
            ("fail", "", 0, "red"),
            ("x\nfail", "", 0, "amber"),
            ("all done", "", 0, "red"),
            ("all done\n", "", 0, "amber"),
            ("ok\n", "", 0, "green"),
            ("ok", "", 0, "green"),
        ],
        ["a", "\n", "fail", "done", "ok", "x"],
    ),
    Lambda(
        "Ruby classes: \\h, \\d \\w \\s in ASCII, POSIX brackets",
        """
lambda { |stdout, stderr, status|
  return :red if /id=\\h{4}\\b/.match(stdout)
  return :amber if /^[[:digit:]]+[[:space:]]errors?/.match(stdout)
  return :amber if /^\\s+\\w+:$/.match(stdout)
  return :green if /[[:alpha:]]+ ok/.match(stdout)
  return :red
}
""",
        [
            ("id=beef", "", 0, "red"),
            ("id=bee", "", 0, "red"),
            ("12 errors", "", 0, "amber"),
            ("  key:", "", 0, "amber"),
            ("all ok", "", 0, "green"),
            ("été ok", "", 0, "green"),
            ("١٢ ok", "", 0, "red"),  # Arabic-Indic digits are not [[:alpha:]]
        ],
        ["id=beef", "id=12AF", "id=xyz", "3 errors", " \t", "key:", "all ok", "é", "٣", " "],
    ),
    Lambda(
        "regex flags and named groups: /m /i /x, (?<name>)",
        """
lambda { |stdout, stderr, status|
  return :red if /begin.*end/m.match(stdout)
  return :amber if /  error  \\s+ (?<code> \\d+ ) # the code
                   /x.match(stdout)
  return :green if %r{all/passed}i.match(stdout)
  return :amber
}
""",
        [
            ("begin\nend", "", 0, "red"),
            ("error 42", "", 0, "amber"),
            ("ALL/Passed", "", 0, "green"),
            ("begin end", "", 0, "red"),
        ],
        ["begin", "end", "\n", "error 7", "error", "All/passed", "all/PASSED"],
    ),
]

# Lambdas outside the subset, and what the reason says.
REFUSED = [
    ("sdf\n", "expected lambda"),
    ("lambda { |stdout, stderr| :red }", "2 parameters"),
    ("lambda { |o, e, s| return :orange }", "the colour 'orange'"),
    ("lambda { |o, e, s| return :green if s == 0 }", "can end without a colour"),
    (
        "lambda { |o, e, s| m = /(\\d+)/.match(o)\n return :red if m[1] == '1'\n :green }",
        "may be nil",
    ),
    ("lambda { |o, e, s| return :red if o.downcase.include?('x')\n :green }", "downcase"),
    ("lambda { |o, e, s| return :red if /a(?=b)\\G/.match(o)\n :green }", "\\G"),
    ("lambda { |o, e, s| return :red if /[a-z&&[^x]]/.match(o)\n :green }", "[...]"),
    ("lambda { |o, e, s| return :red if /[[:upper:]]/.match(o)\n :green }", "[:upper:]"),
    ("lambda { |o, e, s| return :red if File.exist?('x')\n :green }", "the unknown name File"),
    ("lambda { |o, e, s| system('rm -rf /')\n :green }", "a call of system()"),
    ("lambda { |o, e, s| while true\n end }", "'while' is not supported"),
    (
        "lambda { |o, e, s| out = e + o\n return :red if /x/.match(out)\n :green }",
        "other than stdout + stderr",
    ),
    ("lambda { |o, e, s| return :red if s < '1'\n :green }", "between other than integers"),
    ("lambda { |o, e, s| return :red if o[0..3] == 'FAIL'\n :green }", "a range"),
    ("lambda { |o, e, s| return :red if o =~ 'x'\n :green }", "a match other than"),
    (
        "lambda { |o, e, s| m = /(?<a>x)(y)/.match(o)\n return :red if m && m[2] == 'y'\n :green }",
        "the capture 2 the regex does not have",
    ),
]

# Lambdas in shapes real images use that the translator refuses: the Ruby judge judges them
# (sandbox/ruby_judge.py). Each must stay untranslatable (tests/unit/test_lambdas.py), so that
# these tests keep reaching the judge.
JUDGED = [
    Lambda(
        "status === 0 and elsif",
        """
lambda { |stdout,stderr,status|
  if status === 0
    return :green
  end
  output = stdout + stderr
  if output.include?('Test suite failed to run')
    :amber
  elsif /^FAIL/.match(output)
    :red
  else
    :amber
  end
}
""",
        [
            ("PASS x", "", 0, "green"),
            ("FAIL x", "", 1, "red"),
            ("", "Test suite failed to run", 1, "amber"),
            ("x", "", 2, "amber"),
        ],
        ["PASS", "FAIL", "Test suite failed to run", "FAIL x"],
    ),
    Lambda(
        "zero? of scanned counts and a ternary",
        """
lambda { |stdout, stderr, status|
  failures = stdout.scan(/^not ok/).size
  return :amber if stdout.scan(/^ok/).size.zero? && failures.zero?
  failures.zero? ? :green : :red
}
""",
        [
            ("ok 1\nok 2\n", "", 0, "green"),
            ("ok 1\nnot ok 2\n", "", 1, "red"),
            ("syntax error", "", 2, "amber"),
        ],
        ["ok 1", "not ok 2", "ok", "not ok", "\n"],
    ),
    Lambda(
        "string slicing",
        """
lambda { |stdout, stderr, status|
  first = stdout.lines.first.to_s
  return :red if first[0, 4] == 'FAIL'
  return :green if first[0..1] == 'OK'
  :amber
}
""",
        [
            ("FAILED: 1\n", "", 1, "red"),
            ("OK (3 tests)\n", "", 0, "green"),
            ("error\nOK", "", 2, "amber"),
        ],
        ["FAIL", "OK", "FAILED", "error", "\n"],
    ),
    Lambda(
        "blocks given to map, select and sum",
        """
lambda { |stdout, stderr, status|
  counts = stdout.scan(/(\\d+) (passed|failed)/)
  failed = counts.select { |_, kind| kind == 'failed' }.map { |n, _| n.to_i }.sum
  return :amber if counts.size == 0
  failed > 0 ? :red : :green
}
""",
        [
            ("3 passed", "", 0, "green"),
            ("2 passed, 1 failed", "", 1, "red"),
            ("2 passed, 0 failed", "", 0, "green"),
            ("error", "", 2, "amber"),
        ],
        ["3 passed", "1 failed", "0 failed", ", ", "passed", "failed"],
    ),
    Lambda(
        "strings for colours and a comparison of text",
        """
lambda { |stdout, stderr, status|
  return 'amber' unless stderr == ''
  return 'green' if status == 0
  'red'
}
""",
        [("", "", 0, "green"), ("x", "", 1, "red"), ("", "warning", 0, "amber")],
        ["warning", "x"],
    ),
    Lambda(
        "case on the status",
        """
lambda { |stdout, stderr, status|
  case status
  when 0 then :green
  when 1 then :red
  else :amber
  end
}
""",
        [("", "", 0, "green"), ("", "", 1, "red"), ("", "", 2, "amber")],
        ["x"],
    ),
]

# The lambdas of the project's language images (images/*/red_amber_green.rb), with outputs of
# the kind their start-points' runs print.
IMAGES = Path(__file__).resolve().parents[2] / "images"
IMAGE_SAMPLES: dict[str, tuple[list[Sample], list[str]]] = {
    "python-unittest": (
        [("", "FAILED (failures=1)\n", 1, "red"), ("", "Ran 1 test\n\nOK\n", 0, "green")],
        ["FAILED (failures=1)", "FAILED (errors=1)", "FAILED (failures=1, errors=2)", "OK"],
    ),
    "python-assert": (
        [("", "    assert x\nAssertionError\n", 1, "red"), ("All tests passed\n", "", 0, "green")],
        ["AssertionError", "AssertionErrors", "All tests passed", "SyntaxError"],
    ),
    "bash-bats": (
        [("not ok 1\n# ./hiker.sh: line 5: 6 * 9sd\n", "", 1, "amber"), ("ok 1\n", "", 0, "green")],
        ["./hiker.sh: line 5: ", ": line 12: ", "not ok 1", "line 5"],
    ),
    "bash-shunit2": (
        [("FAILED (failures=2)\n", 'line 5: (error token is "9sd")\n', 1, "amber")],
        ['(error token is "9sd")', "ASSERT:expected:<42> but was:<54>", "error token is"],
    ),
    "bash-unit": (
        [("\tRunning test_a ... FAILURE\n", "", 1, "red"), ("x ... SUCCESS\n", "", 0, "green")],
        ["\tRunning test_a ... FAILURE", "... SUCCESS", "./hiker.sh: line 5:", "..."],
    ),
    "gcc-assert": (
        [("", "tests: x.c:7: main: Assertion `f() == 42' failed.\n", 2, "red")],
        ["Assertion `answer() == 42' failed.", "All tests passed", "Assertion", "failed."],
    ),
}
IMAGE_LAMBDAS = [
    Lambda(f"{name}'s", (IMAGES / name / "red_amber_green.rb").read_text(), samples, words)
    for name, (samples, words) in IMAGE_SAMPLES.items()
]

# Lambdas that Ruby judges faulty: what each does, the lambda, what the judge's reason says.
FAULTY = [
    ("loops", "lambda { |o, e, s| loop {} }", "did not end within"),
    (
        "floods",
        "lambda { |o, e, s| loop { puts 'x' * 4096; $stderr.puts 'y' } }",
        "did not end within",
    ),
    ("raises", "lambda { |o, e, s| raise 'no colour' }", "raised RuntimeError: no colour"),
    ("gives orange", "lambda { |o, e, s| :orange }", ":orange, not red, amber or green"),
    ("gives nil", "lambda { |o, e, s| nil }", "nil, not red, amber or green"),
    ("is no lambda", "sdf\n", "did not evaluate: NameError"),
    ("takes memory", "lambda { |o, e, s| 'x' * 1_000_000_000 }", "NoMemoryError"),
    ("exits", "lambda { |o, e, s| exit 0 }", "raised SystemExit"),
    ("exits at once", "lambda { |o, e, s| exit! 0 }", "ended without a colour"),
    (
        "kills itself",
        "lambda { |o, e, s| Process.kill(:KILL, Process.pid) }",
        "ended without a colour",
    ),
]
