/// A line diff in unified format, for the review step: what an execution changed in a file.
///
/// Longest common subsequence by dynamic programming, after trimming the common head and tail,
/// so the usual small edit of a large file stays cheap; inputs whose changed middle is still
/// too large for the table are reported by size instead of line by line.
enum TextDiff {
    static let maxTableCells = 4_000_000

    /// `nil` content means the file did not exist. Returns nil when nothing changed.
    static func unified(path: String, old: [UInt8]?, new: [UInt8]?, context: Int = 3) -> String? {
        guard old != new else { return nil }
        // A name with a line break must not be able to forge diff lines.
        let path = path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
        let header =
            "--- " + (old == nil ? "/dev/null" : "a/\(path)") + "\n+++ " + (new == nil ? "/dev/null" : "b/\(path)")
            + "\n"
        guard let oldText = text(old), let newText = text(new) else {
            return header + "Binary content differs (\(old?.count ?? 0) → \(new?.count ?? 0) bytes)\n"
        }
        let a = lines(oldText)
        let b = lines(newText)
        var head = 0
        while head < a.count, head < b.count, a[head] == b[head] { head += 1 }
        var tail = 0
        while tail < a.count - head, tail < b.count - head, a[a.count - 1 - tail] == b[b.count - 1 - tail] { tail += 1 }
        let middleA = Array(a[head..<(a.count - tail)])
        let middleB = Array(b[head..<(b.count - tail)])
        guard (middleA.count + 1) * (middleB.count + 1) <= maxTableCells else {
            return header + "Too large to diff line by line (\(a.count) → \(b.count) lines)\n"
        }
        // Edit script over the whole file: common head, the LCS walk of the middle, common tail.
        var script: [(Character, String)] = a[..<head].map { (" ", $0) }
        script += walk(middleA, middleB)
        script += a[(a.count - tail)...].map { (" ", $0) }
        return header + hunks(script, context: context)
    }

    private static func text(_ bytes: [UInt8]?) -> String? {
        guard let bytes else { return "" }
        guard !bytes.contains(0) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func lines(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var result = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if result.last == "" { result.removeLast() }
        return result
    }

    private static func walk(_ a: [String], _ b: [String]) -> [(Character, String)] {
        let n = a.count
        let m = b.count
        // lengths[i][j]: LCS length of a[i...] and b[j...], in one flat array.
        var lengths = [Int32](repeating: 0, count: (n + 1) * (m + 1))
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lengths[i * (m + 1) + j] =
                    a[i] == b[j]
                    ? lengths[(i + 1) * (m + 1) + j + 1] + 1
                    : max(lengths[(i + 1) * (m + 1) + j], lengths[i * (m + 1) + j + 1])
            }
        }
        var script: [(Character, String)] = []
        var i = 0
        var j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                script.append((" ", a[i]))
                i += 1
                j += 1
            } else if i < n, j == m || lengths[(i + 1) * (m + 1) + j] >= lengths[i * (m + 1) + j + 1] {
                // Deletions before insertions, as diff(1) prints them.
                script.append(("-", a[i]))
                i += 1
            } else {
                script.append(("+", b[j]))
                j += 1
            }
        }
        return script
    }

    private static func hunks(_ script: [(Character, String)], context: Int) -> String {
        let changed = script.indices.filter { script[$0].0 != " " }
        var output = ""
        var index = 0
        while index < changed.count {
            let start = max(changed[index] - context, 0)
            var end = min(changed[index] + context + 1, script.count)
            index += 1
            while index < changed.count, changed[index] - context <= end {
                end = min(changed[index] + context + 1, script.count)
                index += 1
            }
            // Line numbers of the hunk in the old and the new file (1-based).
            let before = script[..<start]
            let oldStart = before.filter { $0.0 != "+" }.count
            let newStart = before.filter { $0.0 != "-" }.count
            let body = script[start..<end]
            let oldCount = body.filter { $0.0 != "+" }.count
            let newCount = body.filter { $0.0 != "-" }.count
            output +=
                "@@ -\(oldCount == 0 ? oldStart : oldStart + 1),\(oldCount) +\(newCount == 0 ? newStart : newStart + 1),\(newCount) @@\n"
            for (mark, line) in body { output += "\(mark)\(line)\n" }
        }
        return output
    }
}
