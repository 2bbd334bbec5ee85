// switchyard-load: the load tools of `make bench` (bench/bench.sh). Not shipped.
//
//   sse-upstream  a paced streaming (and canned plain) OpenAI upstream on 127.0.0.1
//   streams       N concurrent streaming requests at once: first byte, gaps between events, completion
//   requests      N sequential requests on one keep-alive connection: exact latency percentiles
//
// Everything is bounded (fixed counts, timeouts) and talks to 127.0.0.1 only.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

let usage = """
    usage: switchyard-load SUBCOMMAND [--option value ...]
      \(SSEUpstream.usage)
      \(StreamsCommand.usage)
      \(RequestsCommand.usage)
    """

func fail(_ message: String, status: Int32) -> Never {
    var line = "switchyard-load: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(status)
}

let commandLine = CommandLine.arguments.dropFirst()
do {
    guard let subcommand = commandLine.first else { throw UsageError("no subcommand") }
    let arguments = try Arguments(commandLine.dropFirst())
    switch subcommand {
    case "sse-upstream": try SSEUpstream.run(arguments)
    case "streams": try StreamsCommand.run(arguments)
    case "requests": try RequestsCommand.run(arguments)
    case "-h", "--help", "help": print(usage)
    default: throw UsageError("unknown subcommand \(subcommand)")
    }
} catch let error as UsageError {
    fail("\(error.message)\n\(usage)", status: 2)
} catch let error as RunError {
    fail(error.message, status: 1)
} catch {
    fail("\(error)", status: 1)
}
