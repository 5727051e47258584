# The Ruby judge: judges cyber-dojo traffic-light lambdas as cyber-dojo's runner does, one
# request at a time, in a locked-down container of the runner's (sandbox/ruby_judge.py).
#
#   ruby -e "$(cat judge.rb)" TIME_LIMIT_S IDLE_S
#
# Its channel is its stdin and stdout, which only the worker reaches (the engine's attach
# stream), framed as the runner's agent frames its own:
#   request  "<size>\n" then <size> bytes of JSON: {"nonce", "lambda", "stdout", "stderr", "status"}
#   answer   "<nonce> <size of part 1> <size of part 2>\n" then the two parts: part 1 the
#            colour (red, amber, green or faulty), part 2 why it is faulty (empty otherwise).
#
# Each lambda is evaluated in a child forked for it alone, never in this process: nothing of
# one lambda is left for the next. The child gets no stdin, stdout nor stderr (what a lambda
# prints goes nowhere), no more processes or threads, bounded memory and CPU time, and
# TIME_LIMIT_S of wall time before it is killed; it hands its colour back through a pipe of
# its own, of which at most VERDICT_BYTES are read. This process ends after IDLE_S with no
# request, or when its stdin ends, or when a request is not framed as above.

require 'json'

TIME_LIMIT_S = Float(ARGV.fetch(0, '1.5'))
IDLE_S = Float(ARGV.fetch(1, '600'))
REQUEST_BYTES = 8 * 1024 * 1024
VERDICT_BYTES = 4096
REASON_CHARS = 300
MEMORY_BYTES = 64 * 1024 * 1024 # what a lambda may allocate, on top of what it starts with
COLOURS = %w[red amber green].freeze
NONCE = /\A[0-9a-f]{1,64}\z/

# cyber-dojo's runner evaluates a lambda in the binding of an empty module.
module Empty
  def self.binding
    super
  end
end

# No other process of the judge's uid (a lambda's child) may open this process's stdin or
# stdout through /proc, nor ptrace it: it is not dumpable.
def not_dumpable
  require 'fiddle'
  prctl = Fiddle::Function.new(
    Fiddle::Handle::DEFAULT['prctl'], [Fiddle::TYPE_INT, Fiddle::TYPE_LONG], Fiddle::TYPE_INT
  )
  pr_set_dumpable = 4
  prctl.call(pr_set_dumpable, 0)
end

def short(text)
  line = text.to_s.each_line.first.to_s.chomp
  line.length > REASON_CHARS ? "#{line[0, REASON_CHARS]}..." : line
end

# In the child: what a lambda may use, then its colour as cyber-dojo's runner takes it.
def confine
  $stdin.reopen(File::NULL)
  $stdout.reopen(File::NULL, 'w')
  $stderr.reopen(File::NULL, 'w')
  begin
    File.write('/proc/self/oom_score_adj', '1000') # the first to go when memory runs out
  rescue SystemCallError
    nil
  end
  size = File.read('/proc/self/status')[/^VmSize:\s+(\d+) kB/, 1].to_i * 1024
  Process.setrlimit(:AS, size + MEMORY_BYTES) if size.positive?
  cpu_s = TIME_LIMIT_S.ceil + 1
  Process.setrlimit(:CPU, cpu_s, cpu_s + 1)
  Process.setrlimit(:NPROC, 0) # no process nor thread of its own
  Process.setrlimit(:FSIZE, 0)
  Process.setrlimit(:CORE, 0)
end

def colour_of(source, stdout, stderr, status)
  begin
    rag = Empty.binding.eval(source)
  rescue Exception => e # any failure at all, as cyber-dojo's runner rescues it
    return ['faulty', "the lambda did not evaluate: #{e.class}: #{short(e.message)}"]
  end
  begin
    given = rag.call(stdout, stderr, status)
    colour = given.to_s
    return [colour, ''] if COLOURS.include?(colour)

    ['faulty', "the lambda gave #{short(given.inspect)}, not red, amber or green"]
  rescue Exception => e
    ['faulty', "the lambda raised #{e.class}: #{short(e.message)}"]
  end
end

# The child's verdict, read until it ends, or TIME_LIMIT_S passes, or it is too long.
def read_verdict(reader)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + TIME_LIMIT_S
  verdict = +''
  loop do
    left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
    return [nil, :late] if left <= 0 || IO.select([reader], nil, nil, left).nil?

    chunk = reader.read_nonblock(VERDICT_BYTES, exception: false)
    next if chunk == :wait_readable
    return [verdict, :ended] if chunk.nil?

    verdict << chunk
    return [nil, :long] if verdict.bytesize > VERDICT_BYTES
  end
end

def judge(request)
  reader, writer = IO.pipe
  pid = fork do
    reader.close
    verdict = begin
      confine
      colour_of(request['lambda'], request['stdout'], request['stderr'], request['status'])
    rescue Exception => e
      ['faulty', "the lambda's process could not be confined: #{e.class}: #{short(e.message)}"]
    end
    writer.write(verdict.join("\n"))
    writer.close
    exit!(0)
  end
  writer.close
  verdict, how = read_verdict(reader)
  reader.close
  begin
    Process.kill(:KILL, pid) # whatever it still does, nothing of it outlives its judgement
  rescue Errno::ESRCH
    nil
  end
  _, status = Process.wait2(pid)
  ended(verdict, how, status)
end

def ended(verdict, how, status)
  case how
  when :late then ['faulty', "the lambda did not end within #{TIME_LIMIT_S} s"]
  when :long then ['faulty', 'the lambda wrote a verdict over the judge\'s bound']
  else
    colour, reason = verdict.split("\n", 2)
    return [colour, reason.to_s] if (COLOURS + ['faulty']).include?(colour)

    signal = status.termsig ? " (signal #{Signal.signame(status.termsig)})" : ''
    ['faulty', "the lambda ended without a colour#{signal}"]
  end
end

def answer(nonce, colour, reason)
  header = "#{nonce} #{colour.bytesize} #{reason.bytesize}\n"
  $stdout.syswrite((header + colour + reason).b)
end

# A request, or nil at the end: its stdin ended, was idle for IDLE_S or is not framed.
def next_request
  return nil if IO.select([$stdin], nil, nil, IDLE_S).nil?

  line = $stdin.gets("\n", 24)
  return nil unless line&.match?(/\A\d+\n\z/) && line.to_i <= REQUEST_BYTES

  body = $stdin.read(line.to_i)
  return nil if body.nil? || body.bytesize != line.to_i

  JSON.parse(body.force_encoding(Encoding::UTF_8))
rescue JSON::ParserError
  nil
end

def well_formed?(request)
  request.is_a?(Hash) && request['nonce'].is_a?(String) && request['nonce'].match?(NONCE) &&
    request['lambda'].is_a?(String) && request['stdout'].is_a?(String) &&
    request['stderr'].is_a?(String) && request['status'].is_a?(Integer)
end

def serve
  $stdin.binmode
  $stdout.binmode
  # As the container's first process, only the signals it handles reach it from inside:
  # leave none to a lambda's child but those Ruby cannot give up.
  %w[INT HUP TERM QUIT ALRM USR1 USR2].each { |name| trap(name, 'SYSTEM_DEFAULT') }
  not_dumpable
  while (request = next_request)
    return unless well_formed?(request)

    answer(request['nonce'], *judge(request))
  end
end

serve
