import NIOCore

/// One unit of input from a connection.
enum Frame: Sendable {
    /// A complete line, newline (and a preceding `\r`) removed.
    case line(ByteBuffer)
    /// A line longer than the limit; its bytes were discarded without being buffered.
    case tooLong(limit: Int)
}

/// Splits the byte stream into newline-delimited frames with a hard cap on line length.
///
/// A line over the cap is never accumulated: the decoder reports it once and then skips bytes up
/// to the next newline, so a client cannot make laloD buffer more than `maximumLineBytes`.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Frame

    let maximumLineBytes: Int
    private var discarding = false
    private var scanned = 0

    init(maximumLineBytes: Int) {
        self.maximumLineBytes = maximumLineBytes
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let newline = view[(view.startIndex + scanned)...].firstIndex(of: 0x0A) {
            let length = newline - view.startIndex
            scanned = 0
            if discarding {
                discarding = false
                buffer.moveReaderIndex(forwardBy: length + 1)
                return .continue
            }
            if length > maximumLineBytes {
                buffer.moveReaderIndex(forwardBy: length + 1)
                context.fireChannelRead(wrapInboundOut(.tooLong(limit: maximumLineBytes)))
                return .continue
            }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 0x0D {
                line.moveWriterIndex(to: line.writerIndex - 1)
            }
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        }
        if view.count > maximumLineBytes {
            if !discarding {
                discarding = true
                context.fireChannelRead(wrapInboundOut(.tooLong(limit: maximumLineBytes)))
            }
            buffer.moveReaderIndex(forwardBy: view.count)
            scanned = 0
            return .needMoreData
        }
        scanned = view.count
        return .needMoreData
    }

    /// At end of input a final line without a newline still counts (`printf '{…}' | socat …`).
    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            if !discarding, let line = buffer.readSlice(length: buffer.readableBytes) {
                context.fireChannelRead(wrapInboundOut(.line(line)))
            }
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        return .needMoreData
    }
}
