import Shared
import Testing

@testable import laloD

/// The review step's diffs: a table of changes with the exact unified output.
@Suite("Text diff")
struct TextDiffTests {
    static let cases: [(String?, String?, String?)] = [
        ("same\n", "same\n", nil),
        (nil, "new\n", "--- /dev/null\n+++ b/f\n@@ -0,0 +1,1 @@\n+new\n"),
        ("gone\n", nil, "--- a/f\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-gone\n"),
        ("a\nb\nc\n", "a\nB\nc\n", "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
        (
            "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\n5\n6\n7\n8\n9\nten\n",
            "--- a/f\n+++ b/f\n@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+ten\n"
        ),
        ("x\n", "x\ny\n", "--- a/f\n+++ b/f\n@@ -1,1 +1,2 @@\n x\n+y\n"),
    ]

    @Test func unifiedOutput() {
        for (old, new, expected) in Self.cases {
            let diff = TextDiff.unified(path: "f", old: old.map { Array($0.utf8) }, new: new.map { Array($0.utf8) })
            #expect(diff == expected, "\(String(describing: old)) → \(String(describing: new))")
        }
    }

    @Test func binaryAndHugeInputsAreSummarised() {
        #expect(
            TextDiff.unified(path: "b", old: [0, 1, 2], new: [0, 1, 3])?.contains(
                "Binary content differs (3 → 3 bytes)") == true)
        let many = (0..<3000).map { "line \($0)" }.joined(separator: "\n")
        let shuffled = (0..<3000).reversed().map { "line \($0)" }.joined(separator: "\n")
        #expect(
            TextDiff.unified(path: "h", old: Array(many.utf8), new: Array(shuffled.utf8))?.contains("Too large to diff")
                == true)
    }

    @Test func grammarFriendlySchemasKeepPropertyNamesAndDropLongBounds() {
        let schema: JSONValue = [
            "type": "object", "description": "x",
            "properties": [
                "description": ["type": "string", "maxLength": 1024],
                "items": ["type": "array", "maxItems": 20, "items": ["type": "string", "minLength": 1]],
                "few": ["type": "array", "maxItems": 3, "items": ["type": "integer"]],
            ], "required": ["description"],
        ]
        let expected: JSONValue = [
            "type": "object",
            "properties": [
                "description": ["type": "string"],
                "items": ["type": "array", "items": ["type": "string"]],
                "few": ["type": "array", "maxItems": 3, "items": ["type": "integer"]],
            ], "required": ["description"],
        ]
        #expect(OpenAIClient.grammarFriendly(schema) == expected)
    }
}
