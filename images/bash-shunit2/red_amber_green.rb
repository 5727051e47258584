lambda { |stdout, stderr, status|
  return :green if status.zero?
  return :amber if /\(error token is /.match(stderr)
  return :red
}
