// Progress: a one-line progress bar on stderr when it is a terminal, plain log lines otherwise.
import Foundation

/// Writes a line to standard error.
public func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A progress display on stderr: a redrawn bar when stderr is a terminal, nothing per step otherwise
/// (logs and CI output stay readable); `finish` always prints its summary line.
public final class ProgressBar {
    public let title: String
    public let total: Int
    private let interactive: Bool
    private var lastDraw = Date.distantPast

    public init(title: String, total: Int, interactive: Bool = isatty(STDERR_FILENO) != 0) {
        self.title = title
        self.total = max(total, 1)
        self.interactive = interactive
    }

    /// Redraws the bar at `done` of `total`, at most ten times a second, with a free-form status.
    public func update(_ done: Int, status: String = "") {
        guard interactive else { return }
        let now = Date()
        guard done >= total || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = now
        let width = 30, filled = min(width, done * width / total)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write(Data("\r\(title) \(bar) \(done)/\(total) \(status)\u{1B}[K".utf8))
    }

    /// Clears the bar and prints a summary line.
    public func finish(_ summary: String) {
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        printError(summary)
    }
}
