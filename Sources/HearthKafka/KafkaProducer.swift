import CRdKafka
import Foundation
import HearthSupport
import Synchronization

/// An idempotent Kafka producer. `send` returns only when every record's
/// delivery report has arrived, and throws the first failed delivery.
public final class KafkaProducer: Sendable {
    private let handle: RDKafkaHandle
    private let poller: PollThread

    /// - Parameters:
    ///   - brokers: the bootstrap address, `host:port,…`.
    ///   - properties: extra librdkafka properties (e.g. `compression.type`).
    public init(brokers: String, properties: [String: String] = [:]) throws {
        var props: [String: String] = [
            "bootstrap.servers": brokers,
            "enable.idempotence": "true",
            "linger.ms": "5",
            "batch.num.messages": "10000",
            "queue.buffering.max.messages": "500000",
            "log.connection.close": "false",
        ]
        props.merge(properties) { _, new in new }
        let conf = try RDKafkaConfig.make(props)
        rd_kafka_conf_set_dr_msg_cb(conf, { _, message, _ in
            guard let message, let opaque = message.pointee._private else { return }
            // Ownership: `produce` retained the group once per record; this releases it.
            let group = Unmanaged<DeliveryGroup>.fromOpaque(opaque).takeRetainedValue()
            let err = message.pointee.err
            group.complete(err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(
                code: RDKafkaConfig.errorName(err), message: RDKafkaConfig.errorString(err)))
        })
        RDKafkaConfig.forwardLogs(conf)
        handle = RDKafkaHandle(try RDKafkaConfig.client(RD_KAFKA_PRODUCER, conf))
        let h = handle
        poller = PollThread(name: "hearth.kafka.producer") { rd_kafka_poll(h.pointer, 100) }
    }

    /// Produces `records` (partition -1 lets the partitioner choose by key) and waits for every delivery report.
    public func send(_ records: [KafkaRecord]) async throws {
        guard !records.isEmpty else { return }
        let group = DeliveryGroup(count: records.count)
        for record in records {
            while true {
                let err = produce(record, group: group)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR { break }
                if err == RD_KAFKA_RESP_ERR__QUEUE_FULL {
                    try await Task.sleep(for: .milliseconds(2))
                    continue
                }
                group.complete(KafkaError(code: RDKafkaConfig.errorName(err), message: RDKafkaConfig.errorString(err)))
                break
            }
        }
        try await group.wait()
    }

    private func produce(_ record: KafkaRecord, group: DeliveryGroup) -> rd_kafka_resp_err_t {
        let opaque = Unmanaged.passRetained(group).toOpaque()
        var cStrings: [UnsafeMutablePointer<CChar>] = []
        defer { cStrings.forEach { free($0) } }
        func cString(_ s: String) -> UnsafeMutablePointer<CChar> {
            let p = strdup(s)!
            cStrings.append(p)
            return p
        }
        var vus: [rd_kafka_vu_t] = []
        var vu = rd_kafka_vu_t()
        vu.vtype = RD_KAFKA_VTYPE_TOPIC
        vu.u.cstr = UnsafePointer(cString(record.topic))
        vus.append(vu)
        if record.partition >= 0 {
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_PARTITION
            vu.u.i32 = record.partition
            vus.append(vu)
        }
        if record.timestampMillis >= 0 {
            vu = rd_kafka_vu_t()
            vu.vtype = RD_KAFKA_VTYPE_TIMESTAMP
            vu.u.i64 = record.timestampMillis
            vus.append(vu)
        }
        vu = rd_kafka_vu_t()
        vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS
        vu.u.i = RD_KAFKA_MSG_F_COPY
        vus.append(vu)
        vu = rd_kafka_vu_t()
        vu.vtype = RD_KAFKA_VTYPE_OPAQUE
        vu.u.ptr = opaque
        vus.append(vu)
        let err: rd_kafka_resp_err_t = record.value.withUnsafeBytes { value in
            (record.key ?? []).withUnsafeBytes { key in
                var all = vus
                var v = rd_kafka_vu_t()
                v.vtype = RD_KAFKA_VTYPE_VALUE
                v.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                v.u.mem.size = value.count
                all.append(v)
                if record.key != nil {
                    v = rd_kafka_vu_t()
                    v.vtype = RD_KAFKA_VTYPE_KEY
                    v.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                    v.u.mem.size = key.count
                    all.append(v)
                }
                var headerBuffers: [UnsafeMutableRawPointer] = []
                defer { headerBuffers.forEach { free($0) } }
                for header in record.headers {
                    let buf = malloc(max(header.value.count, 1))!
                    header.value.withUnsafeBytes { if let b = $0.baseAddress { buf.copyMemory(from: b, byteCount: $0.count) } }
                    headerBuffers.append(buf)
                    v = rd_kafka_vu_t()
                    v.vtype = RD_KAFKA_VTYPE_HEADER
                    v.u.header.name = UnsafePointer(cString(header.name))
                    v.u.header.val = UnsafeRawPointer(buf)
                    v.u.header.size = header.value.count
                    all.append(v)
                }
                guard let error = rd_kafka_produceva(handle.pointer, all, all.count) else {
                    return RD_KAFKA_RESP_ERR_NO_ERROR
                }
                defer { rd_kafka_error_destroy(error) }
                return rd_kafka_error_code(error)
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            // The record was not queued, so no delivery report will release the group.
            Unmanaged<DeliveryGroup>.fromOpaque(opaque).release()
        }
        return err
    }

    /// Waits up to `timeout` for queued records, then stops the poll thread.
    public func close(timeout: Duration = .seconds(10)) async {
        let h = handle
        let ms = Int32(timeout.components.seconds * 1000)
        _ = try? await Blocking.run { rd_kafka_flush(h.pointer, ms) }
        poller.stop()
    }
}

/// Counts outstanding delivery reports of one `send` and resumes its waiter.
final class DeliveryGroup: Sendable {
    private struct State {
        var pending: Int
        var error: KafkaError?
        var waiter: CheckedContinuation<Void, any Error>?
    }
    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(pending: count)) }

    func complete(_ error: KafkaError?) {
        let resume: (CheckedContinuation<Void, any Error>, KafkaError?)? = state.withLock { s in
            s.pending -= 1
            if s.error == nil, let error { s.error = error }
            guard s.pending == 0, let w = s.waiter else { return nil }
            s.waiter = nil
            return (w, s.error)
        }
        if let (waiter, error) = resume {
            if let error { waiter.resume(throwing: error) } else { waiter.resume() }
        }
    }

    func wait() async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let ready: KafkaError?? = state.withLock { s in
                if s.pending == 0 { return .some(s.error) }
                s.waiter = c
                return .none
            }
            if case .some(let error) = ready {
                if let error { c.resume(throwing: error) } else { c.resume() }
            }
        }
    }
}

/// A dedicated thread calling `body` until stopped (librdkafka's poll loops block).
final class PollThread: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while !stopped.load(ordering: .acquiring) { body() }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    func stop() {
        if stopped.exchange(true, ordering: .acquiringAndReleasing) == false { finished.wait() }
    }
}
