lambda { |stdout, stderr, status|
  output = stdout + stderr
  return :red if /^FAILED \(failures=\d+\)$/.match(output)
  return :green if /^OK$/.match(output)
  return :amber
}
