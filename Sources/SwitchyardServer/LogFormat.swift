import Logging

/// How `serve` writes its log to standard error.
package enum LogFormat: String, CaseIterable, Sendable {
    /// swift-log's text lines.
    case text
    /// One JSON object a line (`JSONLogHandler`).
    case json

    /// Makes every logger of the process write in this format at `level` and above.
    package func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { [self] label in
            switch self {
            case .json:
                return JSONLogHandler(label: label, level: level)
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}
