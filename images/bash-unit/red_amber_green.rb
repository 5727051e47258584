lambda { |stdout, stderr, status|
  return :amber unless stderr == ''
  return :red if /\.\.\. FAILURE/.match(stdout)
  return :green if /\.\.\. SUCCESS/.match(stdout)
  :amber
}
