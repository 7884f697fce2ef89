import NIOCore

/// Runs a connection's tasks on the event loop that owns its socket.
///
/// Reading a request, running a quick handler and writing the answer then happen on one thread,
/// without waking a thread of the cooperative pool and then the event loop again: on a small
/// machine those wake-ups, not the work, dominate a call's latency. Handlers that do slow work
/// (large database reads) suspend on GRDB's own queues and leave the loop free meanwhile.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
