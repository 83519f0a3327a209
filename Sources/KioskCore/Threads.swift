#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex (Foundation's `NSLock`, which FoundationEssentials lacks), for the few places
/// where a lock is held across blocking system calls, which `Synchronization.Mutex`'s closure
/// form does not fit and which must also build for macOS 14.
public final class ThreadLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let result = pthread_mutex_init(mutex, nil)
        precondition(result == 0, "pthread_mutex_init failed: \(result)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() {
        let result = pthread_mutex_lock(mutex)
        precondition(result == 0, "pthread_mutex_lock failed: \(result)")
    }

    public func unlock() {
        let result = pthread_mutex_unlock(mutex)
        precondition(result == 0, "pthread_mutex_unlock failed: \(result)")
    }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Starts a detached operating-system thread that runs `body` (Foundation's `Thread`, which
/// FoundationEssentials lacks): for a loop that blocks in poll(2) and must not hold a task of the
/// cooperative pool. `name` (at most 15 bytes are kept, the kernel's limit) shows in `ps -L` and
/// debuggers.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
    #if canImport(Glibc)
    var thread = pthread_t()
    #else
    var thread: pthread_t?
    #endif
    let result = pthread_create(
        &thread, nil,
        { raw in
            #if canImport(Glibc)
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            #else
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            #endif
            let name = Array(box.name.utf8.prefix(15))
            #if canImport(Glibc)
            // Glibc's module does not export pthread_setname_np (a GNU extension); its comm file
            // is what that call writes.
            let comm = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
            if comm >= 0 {
                _ = name.withUnsafeBytes { write(comm, $0.baseAddress, $0.count) }
                close(comm)
            }
            #else
            _ = (name + [0]).withUnsafeBytes { pthread_setname_np($0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
            #endif
            box.body()
            return nil
        }, box)
    precondition(result == 0, "pthread_create failed: \(result)")
    #if canImport(Glibc)
    pthread_detach(thread)
    #else
    pthread_detach(thread!)
    #endif
}
