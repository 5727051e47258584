lambda { |stdout, stderr, status|
  return :green if status === 0
  return :amber if status === 1 && /: line \d+: /.match(stdout + stderr)
  return :red
}
