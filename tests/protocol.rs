//! Integration tests of the pure wire protocol (docs/protocol.md sections 1-4): golden bytes of both
//! framings, limits, split/coalesced streams, JSON bodies and chunk arithmetic.

use bytes::BytesMut;
use chatsim::protocol::body::ChunkReq;
use chatsim::protocol::CHUNK_SIZE;
use chatsim::protocol::{ids, ChunkPlan, Frame, FrameCodec, FrameError, Framing, WireSize};
use proptest::prelude::*;
use proptest::sample::Index;
use tokio_util::codec::{Decoder, Encoder};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Encodes with a fresh upstream codec through the `Encoder` trait into an empty buffer.
fn encode(framing: Framing, frame: &Frame) -> Result<Vec<u8>, FrameError> {
    let mut dst = BytesMut::new();
    FrameCodec::upstream(framing).encode(frame.clone(), &mut dst)?;
    Ok(dst.to_vec())
}

/// Decodes every complete frame in `bytes`, then calls `decode_eof`; returns the frames and the
/// result of `decode_eof`.
fn decode_all(
    codec: &mut FrameCodec,
    bytes: &[u8],
) -> (Vec<Frame>, Result<Option<Frame>, FrameError>) {
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => out.push(frame),
            Ok(None) => break,
            Err(e) => return (out, Err(e)),
        }
    }
    let eof = codec.decode_eof(&mut buf);
    (out, eof)
}

/// Asserts `bytes` is exactly one frame equal to `frame`, with nothing left over.
fn assert_decodes_to(framing: Framing, bytes: &[u8], frame: &Frame) {
    let mut codec = FrameCodec::upstream(framing);
    let (frames, eof) = decode_all(&mut codec, bytes);
    assert_eq!(frames, vec![frame.clone()]);
    assert!(matches!(eof, Ok(None)), "decode_eof: {eof:?}");
}

fn assert_too_long(result: Result<impl std::fmt::Debug, FrameError>, framing: Framing, id: u16) {
    match result {
        Err(FrameError::TooLong {
            framing: f, id: i, ..
        }) => {
            assert_eq!(f, framing);
            assert_eq!(i, id);
        }
        other => panic!("expected TooLong, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Golden byte vectors
// ---------------------------------------------------------------------------------------------

const LOGIN_BODY: &[u8] = br#"{"uid":1,"token":"t"}"#;

#[test]
fn golden_chat_login_frame() {
    assert_eq!(LOGIN_BODY.len(), 21);
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0x03, 0xED, 0x00, 0x15][..], // id 1005, len 21
        b"{\"uid\":1,\"token\":\"t\"}",
    ]
    .concat();
    let frame = Frame::new(ids::CHAT_LOGIN, LOGIN_BODY);
    assert_eq!(encode(Framing::Chat, &frame).unwrap(), expected);
    assert_eq!(
        FrameCodec::upstream(Framing::Chat)
            .encode_to_vec(&frame)
            .unwrap(),
        expected
    );
    assert_decodes_to(Framing::Chat, &expected, &frame);
}

#[test]
fn golden_resource_first_chunk_frame() {
    let body = br#"{"seq":1,"name":"a.png"}"#;
    assert_eq!(body.len(), 24);
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0x04, 0x11, 0x00, 0x00, 0x00, 0x18][..], // id 1041, len 24 as u32
        b"{\"seq\":1,\"name\":\"a.png\"}",
    ]
    .concat();
    let frame = Frame::new(ids::FILE_INFO_SYNC_REQ, &body[..]);
    assert_eq!(encode(Framing::Resource, &frame).unwrap(), expected);
    assert_decodes_to(Framing::Resource, &expected, &frame);
}

#[test]
fn golden_length_bytes_are_big_endian_in_both_halves() {
    // A body of 0x0102 = 258 bytes shows the byte order of both length fields.
    let body = vec![b'x'; 0x0102];
    let chat = Frame::new(0xABCD, body.clone());
    let bytes = encode(Framing::Chat, &chat).unwrap();
    assert_eq!(&bytes[..4], &[0xAB, 0xCD, 0x01, 0x02]);
    assert_eq!(&bytes[4..], &body[..]);
    assert_decodes_to(Framing::Chat, &bytes, &chat);

    let res = Frame::new(0x0102, body.clone());
    let bytes = encode(Framing::Resource, &res).unwrap();
    assert_eq!(&bytes[..6], &[0x01, 0x02, 0x00, 0x00, 0x01, 0x02]);
    assert_eq!(&bytes[6..], &body[..]);
    assert_decodes_to(Framing::Resource, &bytes, &res);

    // A resource body above 0xFFFF needs the upper half of the u32 length.
    let big = Frame::new(ids::IMG_CHAT_UPLOAD_REQ, vec![b'y'; 0x0001_0203]);
    let codec = FrameCodec::with_limit(Framing::Resource, 0x0002_0000);
    let bytes = codec.encode_to_vec(&big).unwrap();
    assert_eq!(&bytes[..6], &[0x04, 0x0D, 0x00, 0x01, 0x02, 0x03]);
    assert_eq!(bytes.len(), 6 + 0x0001_0203);
    let (frames, eof) = decode_all(&mut codec.clone(), &bytes);
    assert_eq!(frames, vec![big]);
    assert!(matches!(eof, Ok(None)));
}

#[test]
fn golden_zero_length_bodies() {
    let chat = Frame::new(ids::HEART_BEAT_REQ, Vec::new());
    let bytes = encode(Framing::Chat, &chat).unwrap();
    assert_eq!(bytes, [0x03, 0xFF, 0x00, 0x00]);
    assert_decodes_to(Framing::Chat, &bytes, &chat);

    let res = Frame::new(ids::IMG_CHAT_DOWN_REQ, Vec::new());
    let bytes = encode(Framing::Resource, &res).unwrap();
    assert_eq!(bytes, [0x04, 0x17, 0x00, 0x00, 0x00, 0x00]);
    assert_decodes_to(Framing::Resource, &bytes, &res);
}

#[test]
fn golden_coalesced_frames_in_one_buffer() {
    // Two frames in one read: upstream's Qt client once lost the second one.
    let a = Frame::new(ids::CHAT_LOGIN, LOGIN_BODY);
    let b = Frame::new(ids::HEART_BEAT_REQ, &b"{}"[..]);
    let mut stream = encode(Framing::Chat, &a).unwrap();
    stream.extend_from_slice(&[0x03, 0xFF, 0x00, 0x02, b'{', b'}']);
    let mut codec = FrameCodec::upstream(Framing::Chat);
    let (frames, eof) = decode_all(&mut codec, &stream);
    assert_eq!(frames, vec![a, b]);
    assert!(matches!(eof, Ok(None)));
}

#[test]
fn frames_of_exactly_the_limit_are_accepted_and_one_more_is_rejected() {
    for framing in [Framing::Chat, Framing::Resource] {
        let max = framing.upstream_max_body();
        let header = framing.header_len();
        let id = 1037;

        // Exactly the limit: encodes, decodes.
        let at_limit = Frame::new(id, vec![b'a'; max]);
        let bytes = encode(framing, &at_limit).unwrap();
        assert_eq!(bytes.len(), header + max);
        assert_decodes_to(framing, &bytes, &at_limit);

        // One over: the encoder refuses it and writes nothing.
        let over = Frame::new(id, vec![b'a'; max + 1]);
        let mut dst = BytesMut::new();
        let err = FrameCodec::upstream(framing).encode(over, &mut dst);
        assert_too_long(err, framing, id);
        assert!(
            dst.is_empty(),
            "{framing:?}: encoder wrote {} bytes",
            dst.len()
        );
        match FrameCodec::upstream(framing).encode(Frame::new(id, vec![0; max + 1]), &mut dst) {
            Err(FrameError::TooLong { len, max: m, .. }) => {
                assert_eq!(len, max + 1);
                assert_eq!(m, max);
            }
            other => panic!("expected TooLong, got {other:?}"),
        }

        // One over on the wire: the decoder refuses it from the header alone, before the body.
        let len = max + 1;
        let mut wire = id.to_be_bytes().to_vec();
        match framing {
            Framing::Chat => wire.extend_from_slice(&(len as u16).to_be_bytes()),
            Framing::Resource => wire.extend_from_slice(&(len as u32).to_be_bytes()),
        }
        let mut codec = FrameCodec::upstream(framing);
        let mut buf = BytesMut::from(&wire[..]);
        assert_too_long(codec.decode(&mut buf), framing, id);
        // ... and with the whole body present too.
        wire.extend(std::iter::repeat_n(b'a', len));
        let mut buf = BytesMut::from(&wire[..]);
        assert_too_long(codec.decode(&mut buf), framing, id);
    }
}

#[test]
fn chat_limit_is_capped_by_the_u16_length_field() {
    // A codec asked for more than the header can express clamps to u16::MAX rather than
    // silently truncating the length on encode.
    let codec = FrameCodec::with_limit(Framing::Chat, usize::MAX);
    let max = Frame::new(1, vec![0; u16::MAX as usize]);
    let bytes = codec.encode_to_vec(&max).unwrap();
    assert_eq!(&bytes[..4], &[0x00, 0x01, 0xFF, 0xFF]);
    let (frames, eof) = decode_all(&mut codec.clone(), &bytes);
    assert_eq!(frames, vec![max]);
    assert!(matches!(eof, Ok(None)));

    let over = Frame::new(1, vec![0; u16::MAX as usize + 1]);
    assert_too_long(codec.encode_to_vec(&over), Framing::Chat, 1);
}

#[test]
fn a_huge_declared_length_is_rejected_without_allocating_it() {
    let mut codec = FrameCodec::upstream(Framing::Resource);
    let mut buf = BytesMut::with_capacity(16);
    buf.extend_from_slice(&[0x04, 0x11, 0xFF, 0xFF, 0xFF, 0xFF, b'{']);
    match codec.decode(&mut buf) {
        Err(FrameError::TooLong {
            framing,
            id,
            len,
            max,
        }) => {
            assert_eq!(framing, Framing::Resource);
            assert_eq!(id, 1041);
            assert_eq!(len, u32::MAX as usize);
            assert_eq!(max, 51200);
        }
        other => panic!("expected TooLong, got {other:?}"),
    }
    assert!(
        buf.capacity() <= 4096,
        "decoder grew the buffer to {} bytes",
        buf.capacity()
    );

    // The same on the chat socket with the largest u16 length.
    let mut codec = FrameCodec::upstream(Framing::Chat);
    let mut buf = BytesMut::with_capacity(16);
    buf.extend_from_slice(&[0x03, 0xED, 0xFF, 0xFF]);
    assert_too_long(codec.decode(&mut buf), Framing::Chat, 1005);
    assert!(buf.capacity() <= 4096, "capacity {}", buf.capacity());

    // A legal but incomplete frame reserves at most what the frame needs, not more.
    let mut codec = FrameCodec::upstream(Framing::Resource);
    let mut buf = BytesMut::with_capacity(8);
    buf.extend_from_slice(&[0x04, 0x11, 0x00, 0x00, 0xC8, 0x00]); // len 51200, the limit
    assert!(matches!(codec.decode(&mut buf), Ok(None)));
    assert!(
        buf.capacity() <= 2 * (6 + 51200),
        "capacity {}",
        buf.capacity()
    );
    assert_eq!(buf.len(), 6, "an incomplete frame must stay buffered");
}

#[test]
fn decode_eof_on_a_partial_header_or_body_is_truncated() {
    let full = encode(Framing::Chat, &Frame::new(ids::CHAT_LOGIN, LOGIN_BODY)).unwrap();
    for cut in [1, 3, 4, 5, full.len() - 1] {
        let mut codec = FrameCodec::upstream(Framing::Chat);
        let (frames, eof) = decode_all(&mut codec, &full[..cut]);
        assert!(frames.is_empty());
        match eof {
            Err(FrameError::Truncated { buffered }) => assert_eq!(buffered, cut),
            other => panic!("cut {cut}: expected Truncated, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Properties: split streams
// ---------------------------------------------------------------------------------------------

fn framing_strategy() -> impl Strategy<Value = Framing> {
    prop_oneof![Just(Framing::Chat), Just(Framing::Resource)]
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    (any::<u16>(), prop::collection::vec(any::<u8>(), 0..300))
        .prop_map(|(id, body)| Frame::new(id, body))
}

fn encode_stream(framing: Framing, frames: &[Frame]) -> Vec<u8> {
    let mut codec = FrameCodec::upstream(framing);
    let mut dst = BytesMut::new();
    for frame in frames {
        codec.encode(frame.clone(), &mut dst).unwrap();
    }
    dst.to_vec()
}

/// Cuts `stream` at the given points (duplicates give empty pieces, neighbours single bytes).
fn split_at_points<'a>(stream: &'a [u8], cuts: &[Index], bytewise: bool) -> Vec<&'a [u8]> {
    if bytewise {
        // Every byte on its own, with an empty piece before each.
        return stream.chunks(1).flat_map(|b| [&b[..0], b]).collect();
    }
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    points.windows(2).map(|w| &stream[w[0]..w[1]]).collect()
}

/// Feeds pieces one by one, draining complete frames after each.
fn feed(
    codec: &mut FrameCodec,
    buf: &mut BytesMut,
    pieces: &[&[u8]],
) -> Result<Vec<Frame>, FrameError> {
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        while let Some(frame) = codec.decode(buf)? {
            out.push(frame);
        }
    }
    Ok(out)
}

proptest! {
    #[test]
    fn split_streams_decode_to_the_frames_that_were_sent(
        framing in framing_strategy(),
        frames in prop::collection::vec(frame_strategy(), 0..12),
        cuts in prop::collection::vec(any::<Index>(), 0..40),
        bytewise in prop::bool::weighted(0.1),
    ) {
        let stream = encode_stream(framing, &frames);
        let expected_len: usize = frames
            .iter()
            .map(|f| framing.header_len() + f.body.len())
            .sum();
        prop_assert_eq!(stream.len(), expected_len);

        let pieces = split_at_points(&stream, &cuts, bytewise);
        prop_assert_eq!(pieces.concat(), stream.clone());

        let mut codec = FrameCodec::upstream(framing);
        let mut buf = BytesMut::new();
        let decoded = feed(&mut codec, &mut buf, &pieces).unwrap();
        prop_assert_eq!(&decoded, &frames);
        prop_assert!(buf.is_empty(), "{} bytes left over", buf.len());
        prop_assert!(matches!(codec.decode_eof(&mut buf), Ok(None)));
    }

    #[test]
    fn a_stream_cut_inside_its_last_frame_is_truncated_at_eof(
        framing in framing_strategy(),
        frames in prop::collection::vec(frame_strategy(), 1..8),
        cut in any::<Index>(),
        cuts in prop::collection::vec(any::<Index>(), 0..20),
    ) {
        let stream = encode_stream(framing, &frames);
        let last_len = framing.header_len() + frames.last().unwrap().body.len();
        let last_start = stream.len() - last_len;
        // Strictly inside the last frame: keep 1..last_len-1 of its bytes.
        let kept = 1 + cut.index(last_len - 1);
        let truncated = &stream[..last_start + kept];

        let pieces = split_at_points(truncated, &cuts, false);
        let mut codec = FrameCodec::upstream(framing);
        let mut buf = BytesMut::new();
        let decoded = feed(&mut codec, &mut buf, &pieces).unwrap();
        prop_assert_eq!(&decoded[..], &frames[..frames.len() - 1]);
        match codec.decode_eof(&mut buf) {
            Err(FrameError::Truncated { buffered }) => prop_assert_eq!(buffered, kept),
            other => prop_assert!(false, "expected Truncated, got {:?}", other),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. JSON bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn wire_size_reads_both_forms_and_writes_back_the_same_form() {
    let s: WireSize = serde_json::from_str(r#""123""#).unwrap();
    assert_eq!(s, WireSize::string(123));
    assert!(s.as_string);
    assert_eq!(serde_json::to_string(&s).unwrap(), r#""123""#);

    let n: WireSize = serde_json::from_str("123").unwrap();
    assert_eq!(n, WireSize::number(123));
    assert!(!n.as_string);
    assert_eq!(serde_json::to_string(&n).unwrap(), "123");

    // Sizes are 64-bit.
    let big: WireSize = serde_json::from_str(r#""5000000000""#).unwrap();
    assert_eq!(big, WireSize::string(5_000_000_000));
    let max: WireSize = serde_json::from_str(&u64::MAX.to_string()).unwrap();
    assert_eq!(max, WireSize::number(u64::MAX));

    assert_eq!(WireSize::like(7, s), WireSize::string(7));
    assert_eq!(WireSize::like(7, n), WireSize::number(7));

    for bad in [
        r#""12ab""#,
        r#""""#,
        "-1",
        "1.5",
        "true",
        "null",
        "[1]",
        "{}",
    ] {
        assert!(
            serde_json::from_str::<WireSize>(bad).is_err(),
            "{bad} parsed as a size"
        );
    }
}

proptest! {
    #[test]
    fn wire_size_round_trips_in_its_form(value in any::<u64>(), as_string in any::<bool>()) {
        let size = WireSize { value, as_string };
        let text = serde_json::to_string(&size).unwrap();
        if as_string {
            prop_assert_eq!(&text, &format!("\"{value}\""));
        } else {
            prop_assert_eq!(&text, &value.to_string());
        }
        let back: WireSize = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, size);
    }
}

/// 1041 as upstream's jsoncpp `toStyledString` writes it: sizes as strings, 3-space indent.
const UPSTREAM_1041: &str = r#"{
   "data" : "aGVsbG8gd29ybGQ=",
   "last" : 0,
   "md5" : "5eb63bbbe01eeed093cb22bb8f5acdc3",
   "message_id" : 42,
   "name" : "2f1c.png",
   "receiver" : 2,
   "sender" : 1,
   "seq" : 1,
   "token" : "tok-1",
   "total_size" : "100000",
   "trans_size" : "32768",
   "uid" : 1,
   "unique_id" : "u-123"
}
"#;

/// 1037 (chunk k >= 2): no token or unique_id, plus last_seq; sizes as strings.
const UPSTREAM_1037: &str = "{\n\t\"data\" : \"AAEC\",\n\t\"last\" : 1,\n\t\"last_seq\" : 4,\n\t\"md5\" : \"5eb63bbbe01eeed093cb22bb8f5acdc3\",\n\t\"message_id\" : 42,\n\t\"name\" : \"2f1c.png\",\n\t\"receiver\" : 2,\n\t\"sender\" : 1,\n\t\"seq\" : 4,\n\t\"total_size\" : \"100000\",\n\t\"trans_size\" : \"100000\",\n\t\"uid\" : 1\n}\r\n";

/// 1043 (resume): the 1037 fields with sizes as numbers.
const UPSTREAM_1043: &str = r#"{
   "data" : "AAEC",
   "last" : 0,
   "last_seq" : 4,
   "md5" : "5eb63bbbe01eeed093cb22bb8f5acdc3",
   "message_id" : 42,
   "name" : "2f1c.png",
   "receiver" : 2,
   "sender" : 1,
   "seq" : 3,
   "total_size" : 100000,
   "trans_size" : 98304,
   "uid" : 1
}
"#;

#[test]
fn chunk_req_parses_upstream_1041_with_string_sizes() {
    let req: ChunkReq = serde_json::from_str(UPSTREAM_1041).unwrap();
    assert_eq!(req.name, "2f1c.png");
    assert_eq!(req.seq, 1);
    assert_eq!(req.total_size, WireSize::string(100_000));
    assert_eq!(req.trans_size, WireSize::string(32_768));
    assert_eq!(req.token.as_deref(), Some("tok-1"));
    assert_eq!(req.unique_id.as_deref(), Some("u-123"));
    assert_eq!(req.last_seq, None);
    assert_eq!(
        (req.uid, req.sender, req.receiver, req.message_id, req.last),
        (1, 1, 2, 42, 0)
    );
    assert_eq!(req.data, "aGVsbG8gd29ybGQ=");

    // Written back, the sizes keep their string form and the optional fields are present.
    let v: serde_json::Value = serde_json::to_value(&req).unwrap();
    assert_eq!(v["total_size"], serde_json::json!("100000"));
    assert_eq!(v["trans_size"], serde_json::json!("32768"));
    assert_eq!(v["token"], serde_json::json!("tok-1"));
    assert!(v.get("last_seq").is_none());
    let again: ChunkReq = serde_json::from_value(v).unwrap();
    assert_eq!(again, req);

    // Inside a frame, as it comes off the resource socket.
    let frame = Frame::new(ids::FILE_INFO_SYNC_REQ, UPSTREAM_1041.as_bytes().to_vec());
    assert_eq!(frame.parse::<ChunkReq>().unwrap(), req);
}

#[test]
fn chunk_req_parses_upstream_1037_with_string_sizes() {
    let req: ChunkReq = serde_json::from_str(UPSTREAM_1037).unwrap();
    assert_eq!(req.seq, 4);
    assert_eq!(req.last_seq, Some(4));
    assert_eq!(req.total_size, WireSize::string(100_000));
    assert_eq!(req.trans_size, WireSize::string(100_000));
    assert_eq!(req.token, None);
    assert_eq!(req.unique_id, None);
    assert_eq!(req.last, 1);

    let v: serde_json::Value = serde_json::to_value(&req).unwrap();
    assert!(
        v.get("token").is_none(),
        "absent token must stay absent: {v}"
    );
    assert!(v.get("unique_id").is_none());
    assert_eq!(v["last_seq"], serde_json::json!(4));
}

#[test]
fn chunk_req_parses_upstream_1043_with_number_sizes() {
    let req: ChunkReq = serde_json::from_str(UPSTREAM_1043).unwrap();
    assert_eq!(req.seq, 3);
    assert_eq!(req.total_size, WireSize::number(100_000));
    assert_eq!(req.trans_size, WireSize::number(98_304));
    assert_eq!(req.last_seq, Some(4));

    let v: serde_json::Value = serde_json::to_value(&req).unwrap();
    assert_eq!(v["total_size"], serde_json::json!(100000));
    assert_eq!(v["trans_size"], serde_json::json!(98304));
    let again: ChunkReq = serde_json::from_value(v).unwrap();
    assert_eq!(again, req);
}

/// Replaces the JSON text of one field in the compact 1043 body.
fn with_field(field: &str, raw_value: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(UPSTREAM_1043).unwrap();
    v[field] = serde_json::from_str(raw_value).unwrap();
    serde_json::to_string(&v).unwrap()
}

/// The error for a body whose `field` holds the wrong type, and the 0-based offset just past
/// the field's key: its value spans 1-based columns `at + 1..=at + len`, so an error can be
/// checked to point at that field.
fn wrong_type_error(field: &str, raw_value: &str) -> (String, usize, serde_json::Error) {
    let body = with_field(field, raw_value);
    let key = format!("\"{field}\":");
    let at = body.find(&key).unwrap() + key.len();
    let err = serde_json::from_str::<ChunkReq>(&body).unwrap_err();
    (body, at, err)
}

#[test]
fn wrong_types_fail_with_a_message_that_names_the_expected_type_and_position() {
    // serde_json reports a type error as "invalid type: <found>, expected <what>" plus the
    // position; it does not name the struct field, so the test pins the expected type and
    // checks the reported column falls on the offending value.
    let (body, at, err) = wrong_type_error("seq", r#""x""#);
    let msg = err.to_string();
    assert!(err.is_data(), "{msg}");
    assert!(msg.contains(r#"invalid type: string "x""#), "{msg}");
    assert!(msg.contains("expected u32"), "{msg}");
    assert_eq!(err.line(), 1);
    assert!(
        (at + 1..=at + r#""x""#.len()).contains(&err.column()),
        "column {} not on seq's value at {at} in {body}",
        err.column()
    );

    let (body, at, err) = wrong_type_error("total_size", "[1]");
    let msg = err.to_string();
    assert!(err.is_data(), "{msg}");
    assert!(msg.contains("invalid type: sequence"), "{msg}");
    assert!(msg.contains("expected a non-negative size"), "{msg}");
    assert!(
        (at + 1..=at + "[1]".len()).contains(&err.column()),
        "column {} not on total_size's value at {at} in {body}",
        err.column()
    );

    // A size string that is not digits names the offending text.
    let (_, _, err) = wrong_type_error("trans_size", r#""12ab""#);
    assert!(
        err.to_string()
            .contains(r#"size "12ab" is not a string of digits"#),
        "{err}"
    );

    // A negative size, and a seq that overflows u32.
    let (_, _, err) = wrong_type_error("total_size", "-5");
    assert!(err.to_string().contains("size -5 is negative"), "{err}");
    let (_, _, err) = wrong_type_error("seq", "4294967296");
    assert!(err.to_string().contains("expected u32"), "{err}");

    // A missing required field is named by serde.
    let mut v: serde_json::Value = serde_json::from_str(UPSTREAM_1043).unwrap();
    v.as_object_mut().unwrap().remove("seq");
    let err = serde_json::from_value::<ChunkReq>(v).unwrap_err();
    assert!(err.to_string().contains("missing field `seq`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// 4. Chunk arithmetic
// ---------------------------------------------------------------------------------------------

#[test]
fn chunk_plan_table() {
    const MIB: u64 = 1 << 20;
    // (total, max_seq, range of the last seq)
    let table: &[(u64, u32, std::ops::Range<u64>)] = &[
        (0, 1, 0..0),
        (1, 1, 0..1),
        (32767, 1, 0..32767),
        (32768, 1, 0..32768),
        (32769, 2, 32768..32769),
        (100_000, 4, 98304..100_000),
        (MIB, 32, (MIB - 32768)..MIB),
    ];
    for (total, max_seq, last) in table.iter().cloned() {
        let plan = ChunkPlan::new(total);
        assert_eq!(plan.max_seq(), max_seq, "max_seq of {total}");
        assert_eq!(
            plan.range(max_seq),
            Some(last.clone()),
            "last range of {total}"
        );
        assert_eq!(
            plan.trans_size(max_seq),
            total,
            "last trans_size of {total}"
        );
        assert!(plan.is_last(max_seq));
        assert_eq!(plan.range(1).unwrap().start, 0);
        assert_eq!(
            plan.trans_size(1),
            total.min(32768),
            "first trans_size of {total}"
        );
        assert_eq!(plan.range(0), None, "seq 0 of {total}");
        assert_eq!(plan.range(max_seq + 1), None, "seq past the end of {total}");
        assert_eq!(plan.trans_size(0), 0);
        assert_eq!(plan.trans_size(max_seq + 1), 0);
        assert!(!plan.contains(0) && !plan.contains(max_seq + 1));
    }

    let plan = ChunkPlan::new(100_000);
    assert_eq!(plan.range(2), Some(32768..65536));
    assert_eq!(plan.range(3), Some(65536..98304));
    assert_eq!(plan.trans_size(2), 65536);
    assert_eq!(plan.offset(4), 98304);
    assert!(!plan.is_last(3));

    let mib = ChunkPlan::new(MIB);
    assert_eq!(mib.trans_size(31), 31 * 32768);
}

fn total_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=200_000,
        // Near multiples of the chunk size, where off-by-ones live.
        (0u64..=2048, -1i64..=1).prop_map(|(k, d)| (k * CHUNK_SIZE).saturating_add_signed(d)),
        0u64..=(64 << 20),
    ]
}

proptest! {
    #[test]
    fn chunk_ranges_tile_the_file(total in total_strategy()) {
        let plan = ChunkPlan::new(total);
        let max_seq = plan.max_seq();
        prop_assert!(max_seq >= 1);
        prop_assert_eq!(u64::from(max_seq), total.div_ceil(CHUNK_SIZE).max(1));
        let mut next = 0u64;
        for seq in 1..=max_seq {
            let r = plan.range(seq).unwrap();
            prop_assert_eq!(r.start, next, "gap or overlap before seq {}", seq);
            prop_assert!(r.end >= r.start);
            prop_assert!(r.end - r.start <= CHUNK_SIZE);
            // Only the last chunk may be short (and only an empty file has an empty chunk).
            if seq < max_seq {
                prop_assert_eq!(r.end - r.start, CHUNK_SIZE);
            }
            if total > 0 {
                prop_assert!(r.end > r.start, "empty chunk {} of {}", seq, total);
            }
            prop_assert_eq!(plan.offset(seq), r.start);
            prop_assert_eq!(plan.trans_size(seq), r.end);
            prop_assert_eq!(plan.is_last(seq), seq == max_seq);
            next = r.end;
        }
        prop_assert_eq!(next, total);
        prop_assert_eq!(plan.range(0), None);
        prop_assert_eq!(plan.range(max_seq + 1), None);
    }
}
