import Shared

/// Worked examples shipped with laloD for the planner's prompts (docs/workflows.md#planning-a-step-at-a-time).
/// A small model follows an example's shape far better than an instruction, and copies the last
/// example it saw: so the examples vary in wording, action and value, none of them is a request
/// the evaluation set contains, and the planner shows them in a different order for each sample.
/// Committed workflows will join them once the learning loop lands.
struct PlanningExample: Sendable {
    struct Step: Sendable {
        var action: String
        var values: [String: String]
    }

    var request: String
    var steps: [Step]

    static let shipped: [PlanningExample] = [
        .init(
            request: "Save the text good morning to hello.txt",
            steps: [.init(action: "file.write", values: ["path": "hello.txt", "content": "good morning"])]),
        .init(
            request: "Create a file named shopping.md with the line: eggs and flour",
            steps: [.init(action: "file.write", values: ["path": "shopping.md", "content": "eggs and flour"])]),
        .init(
            request: "Write a file called memo.txt that says back at noon",
            steps: [.init(action: "file.write", values: ["path": "memo.txt", "content": "back at noon"])]),
        .init(
            request: "Store the year 1999 in year.log",
            steps: [.init(action: "file.write", values: ["path": "year.log", "content": "1999"])]),
        .init(
            request: "Write x.csv containing red and y.csv containing blue",
            steps: [
                .init(action: "file.write", values: ["path": "x.csv", "content": "red"]),
                .init(action: "file.write", values: ["path": "y.csv", "content": "blue"]),
            ]),
        .init(
            request: "Add the line see you later to the end of diary.txt",
            steps: [.init(action: "file.append", values: ["path": "diary.txt", "content": "see you later"])]),
        .init(
            request: "Show me what is in config.ini",
            steps: [.init(action: "file.read", values: ["path": "config.ini"])]),
        .init(
            request: "What files are there in the workspace?",
            steps: [.init(action: "file.list", values: ["path": "."])]),
        .init(
            request: "Use Python to multiply 6 by 7 and write the answer to product.txt",
            steps: [
                .init(
                    action: "code.run.python",
                    values: ["code": "with open(\"product.txt\", \"w\") as f:\n    f.write(str(6 * 7))\n"])
            ]),
        .init(
            request: "With Python, count from 3 to 6, add the numbers and store the sum in sum.dat",
            steps: [
                .init(
                    action: "code.run.python",
                    values: ["code": "with open(\"sum.dat\", \"w\") as f:\n    f.write(str(sum(range(3, 6 + 1))))\n"])
            ]),
        .init(
            request: "Run a shell command that puts the word done in log.txt",
            steps: [.init(action: "code.run.shell", values: ["code": "echo done > log.txt"])]),
    ]
}
