import CRdKafka
import Logging

let librdkafkaLogger = Logger(label: "hearth.kafka")

/// Builds an `rd_kafka_conf_t` from properties. The returned pointer is owned by
/// the caller until passed to `rd_kafka_new`, which takes ownership on success.
enum RDKafkaConfig {
    static func make(_ properties: [String: String]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(code: "invalid_config", message: "\(key): \(String(cString: errstr))")
            }
        }
        return conf
    }

    /// Creates a client of `type`, consuming `conf`.
    static func client(_ type: rd_kafka_type_t, _ conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(code: "client_failed", message: String(cString: errstr))
        }
        return rk
    }

    /// Forwards librdkafka's own log lines (warnings and worse) to swift-log, so problems such as a
    /// refused group join are not silent. `opaque`, when set, is the consumer's poll loop.
    static func forwardLogs(_ conf: OpaquePointer) {
        rd_kafka_conf_set(conf, "log_level", "4", nil, 0)
        rd_kafka_conf_set_log_cb(conf) { rk, level, facility, message in
            let logger: Logger
            if let rk, let opaque = rd_kafka_opaque(rk) {
                logger = Unmanaged<PollLoop>.fromOpaque(opaque).takeUnretainedValue().logger
            } else {
                logger = librdkafkaLogger
            }
            let text = message.map { String(cString: $0) } ?? ""
            let meta: Logger.Metadata = ["facility": "\(facility.map { String(cString: $0) } ?? "")"]
            if level <= 3 { logger.error("librdkafka: \(text)", metadata: meta) } else { logger.warning("librdkafka: \(text)", metadata: meta) }
        }
    }

    static func errorString(_ err: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2str(err))
    }

    static func errorName(_ err: rd_kafka_resp_err_t) -> String {
        String(cString: rd_kafka_err2name(err))
    }
}

/// Copies a message out of librdkafka's buffer.
func copyRecord(_ m: UnsafeMutablePointer<rd_kafka_message_t>, topic: String) -> KafkaRecord {
    let msg = m.pointee
    var value: [UInt8] = []
    if let p = msg.payload, msg.len > 0 {
        value = Array(UnsafeRawBufferPointer(start: p, count: msg.len))
    }
    var key: [UInt8]?
    if let k = msg.key {
        key = Array(UnsafeRawBufferPointer(start: k, count: msg.key_len))
    }
    var tsType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
    let ts = rd_kafka_message_timestamp(m, &tsType)
    var headers: [KafkaHeader] = []
    var hdrs: OpaquePointer?
    if rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
        var idx = 0
        var name: UnsafePointer<CChar>?
        var val: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(hdrs, idx, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            let bytes = val.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
            headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
            idx += 1
        }
    }
    return KafkaRecord(topic: topic, partition: msg.partition, offset: msg.offset, key: key, value: value,
                       timestampMillis: ts, headers: headers)
}
