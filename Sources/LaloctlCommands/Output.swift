import Foundation
import Synchronization

/// Where laloctl's standard output goes: the process's stdout, or, while a test runs a command
/// in process, that test's buffer (a task-local, so tests running side by side never mix).
enum Output {
    final class Capture: Sendable {
        private let buffer = Mutex("")
        public init() {}
        var text: String { buffer.withLock { $0 } }
        func append(_ text: String) { buffer.withLock { $0 += text } }
    }

    @TaskLocal static var capture: Capture?

    /// Straight to the file descriptor, as a command's own output (sandboxed stdout, a streamed
    /// answer) is written: in order with what goes to stderr.
    static func writeUnbuffered(_ text: String) {
        if let capture {
            capture.append(text)
        } else {
            fflush(nil)
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }

    static func write(_ text: String) {
        if let capture {
            capture.append(text)
        } else {
            Swift.print(text, terminator: "")
        }
    }
}

/// Every `print` in laloctl's commands goes through ``Output``.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    Output.write(items.map { "\($0)" }.joined(separator: separator) + terminator)
}
