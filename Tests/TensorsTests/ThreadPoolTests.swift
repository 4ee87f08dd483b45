// The engine's thread pool (CKernels' ck_pool_run behind Parallel.perform): every task runs exactly once, on as
// many threads as asked for, from concurrent callers and from inside a task (where the pool is busy and Dispatch
// takes over), and the spin setting only changes when workers sleep.
import CKernels
import Dispatch
import Foundation
import Testing
@testable import Tensors

@Suite struct ThreadPoolTests {
    /// Runs `tasks` iterations of Parallel.perform and returns how many times each ran and the distinct threads seen.
    private func runCounts(tasks: Int, threads: Int) -> (counts: [Int], threadsSeen: Int) {
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
        counts.initialize(repeating: 0, count: tasks)
        let ids = UnsafeMutablePointer<UInt>.allocate(capacity: tasks)
        defer { counts.deallocate(); ids.deallocate() }
        nonisolated(unsafe) let (c, t) = (counts, ids)
        Parallel.perform(iterations: tasks, threads: threads) { i in
            c[i] += 1
            t[i] = UInt(bitPattern: ObjectIdentifier(Thread.current).hashValue)
            // Long enough that a second thread takes part.
            var x = 0.0
            for k in 0..<2000 { x += Double(k).squareRoot() }
            if x < 0 { c[i] += 1 }
        }
        return (Array(UnsafeBufferPointer(start: counts, count: tasks)), Set(UnsafeBufferPointer(start: ids, count: tasks)).count)
    }

    @Test func everyTaskRunsOnceForManyJobsInARow() {
        // Back-to-back jobs of different sizes: a late worker must never run a task of a finished job twice.
        for round in 0..<2000 {
            let tasks = 1 + round % 9
            let (counts, _) = runCounts(tasks: tasks, threads: 2 + round % 3)
            #expect(counts == [Int](repeating: 1, count: tasks), "round \(round)")
            if counts != [Int](repeating: 1, count: tasks) { return }
        }
    }

    /// Two tasks that each wait (up to 10 s) for the other to start: they meet only if the caller and a pooled
    /// worker run them at the same time.
    private final class Meeting: @unchecked Sendable {
        let condition = NSCondition()
        var arrived = 0, met = true
    }

    @Test func theCallerAndAPooledWorkerRunTasksAtOnce() {
        let meeting = Meeting()
        var ran: Int32 = 0
        // Another test may own the pool for a moment (then the call returns 0 and runs nothing): try again.
        for _ in 0..<5000 where ran == 0 {
            ran = ck_pool_run(2, 2, { context, _ in
                guard let context else { return }
                let m = Unmanaged<Meeting>.fromOpaque(context).takeUnretainedValue()
                m.condition.lock()
                m.arrived += 1
                m.condition.broadcast()
                let deadline = Date(timeIntervalSinceNow: 10)
                while m.arrived < 2 {
                    if !m.condition.wait(until: deadline) { m.met = false; break }
                }
                m.condition.unlock()
            }, Unmanaged.passUnretained(meeting).toOpaque())
            if ran == 0 { usleep(1000) }
        }
        withExtendedLifetime(meeting) {}
        #expect(ran == 1)
        #expect(meeting.arrived == 2 && meeting.met)
    }

    @Test func concurrentCallersAndNestedCallsEachRunEveryTask() {
        // Four threads calling at once (one owns the pool, the others fall back), each task nesting another call.
        let callers = 4, tasks = 6, inner = 5
        let total = UnsafeMutablePointer<Int>.allocate(capacity: callers * tasks * inner)
        total.initialize(repeating: 0, count: callers * tasks * inner)
        defer { total.deallocate() }
        nonisolated(unsafe) let p = total
        DispatchQueue.concurrentPerform(iterations: callers) { caller in
            for _ in 0..<50 {
                Parallel.perform(iterations: tasks, threads: 2) { task in
                    Parallel.perform(iterations: inner, threads: 2) { j in p[(caller * tasks + task) * inner + j] += 1 }
                }
            }
        }
        #expect(Array(UnsafeBufferPointer(start: total, count: callers * tasks * inner))
                == [Int](repeating: 50, count: callers * tasks * inner))
    }

    @Test func thePoolRefusesWhatItCannotRun() {
        // The C entry point says no (0) rather than running anything when it cannot: one thread, no tasks, too many.
        let noop: ck_task_fn = { _, _ in }
        #expect(ck_pool_run(4, 1, noop, nil) == 0)
        #expect(ck_pool_run(0, 2, noop, nil) == 0)
        #expect(ck_pool_run(70_000, 2, noop, nil) == 0)
        #expect(ck_pool_run(1, 2, nil, nil) == 0)
    }

    @Test func workersThatSleepAtOnceStillRunEveryTask() {
        // Spin 0: every job finds the worker asleep and wakes it through the condition variable.
        ck_pool_set_spin(0)
        defer { ck_pool_set_spin(200) }
        for round in 0..<300 {
            let (counts, _) = runCounts(tasks: 2 + round % 3, threads: 2)
            #expect(counts.allSatisfy { $0 == 1 }, "round \(round)")
        }
    }
}
