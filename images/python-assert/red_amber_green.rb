lambda { |stdout, stderr, status|
  output = stdout + stderr
  return :red if /^AssertionError\b/.match(output)
  return :green if status == 0 && /^All tests passed$/.match(output)
  return :amber
}
