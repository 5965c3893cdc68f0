//! OFPT_MULTIPART_REQUEST / REPLY (OF1.3 §7.3.5): flow stats, aggregate, table, port
//! stats, port desc, group desc and desc.

use bytes::{BufMut, Bytes, BytesMut};

use super::group_mod::{Bucket, GroupType};
use super::port::PortDesc;
use crate::action::{instructions_len, Instruction};
use crate::oxm::Match;
use crate::wire::{fixed_str, put_fixed_str, put_zeros, DecodeError, Reader, Wire};

const OFPMP_DESC: u16 = 0;
const OFPMP_FLOW: u16 = 1;
const OFPMP_AGGREGATE: u16 = 2;
const OFPMP_TABLE: u16 = 3;
const OFPMP_PORT_STATS: u16 = 4;
const OFPMP_GROUP_DESC: u16 = 7;
const OFPMP_PORT_DESC: u16 = 13;

/// `OFPMPF_REQ_MORE` / `OFPMPF_REPLY_MORE`: more parts of this request/reply follow.
pub const REPLY_MORE: u16 = 1;

/// A multipart request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartRequest {
    pub flags: u16,
    pub body: MultipartRequestBody,
}

/// What a multipart request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MultipartRequestBody {
    Desc,
    FlowStats(FlowStatsRequest),
    Aggregate(FlowStatsRequest),
    Table,
    /// Port number, [`port::ANY`](crate::action::port::ANY) for all.
    PortStats(u32),
    PortDesc,
    GroupDesc,
    Unknown {
        kind: u16,
        body: Bytes,
    },
}

/// The filter of a flow-stats or aggregate request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// 0xff for all tables.
    pub table_id: u8,
    pub out_port: u32,
    pub out_group: u32,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub match_: Match,
}

impl Default for FlowStatsRequest {
    /// All flows of all tables.
    fn default() -> Self {
        FlowStatsRequest {
            table_id: 0xff,
            out_port: crate::action::port::ANY,
            out_group: crate::action::group::ANY,
            cookie: 0,
            cookie_mask: 0,
            match_: Match::new(),
        }
    }
}

impl FlowStatsRequest {
    fn len(&self) -> usize {
        32 + self.match_.wire_len()
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.table_id);
        put_zeros(out, 3);
        out.put_u32(self.out_port);
        out.put_u32(self.out_group);
        put_zeros(out, 4);
        out.put_u64(self.cookie);
        out.put_u64(self.cookie_mask);
        self.match_.encode(out);
    }
    fn decode(r: &mut Reader<'_>) -> Result<FlowStatsRequest, DecodeError> {
        let table_id = r.u8("flow_stats_request.table_id")?;
        r.skip(3, "flow_stats_request.pad")?;
        let out_port = r.u32("flow_stats_request.out_port")?;
        let out_group = r.u32("flow_stats_request.out_group")?;
        r.skip(4, "flow_stats_request.pad2")?;
        Ok(FlowStatsRequest {
            table_id,
            out_port,
            out_group,
            cookie: r.u64("flow_stats_request.cookie")?,
            cookie_mask: r.u64("flow_stats_request.cookie_mask")?,
            match_: Match::decode(r)?,
        })
    }
}

impl MultipartRequest {
    /// A single-part request.
    pub fn new(body: MultipartRequestBody) -> MultipartRequest {
        MultipartRequest { flags: 0, body }
    }

    fn kind(&self) -> u16 {
        match &self.body {
            MultipartRequestBody::Desc => OFPMP_DESC,
            MultipartRequestBody::FlowStats(_) => OFPMP_FLOW,
            MultipartRequestBody::Aggregate(_) => OFPMP_AGGREGATE,
            MultipartRequestBody::Table => OFPMP_TABLE,
            MultipartRequestBody::PortStats(_) => OFPMP_PORT_STATS,
            MultipartRequestBody::PortDesc => OFPMP_PORT_DESC,
            MultipartRequestBody::GroupDesc => OFPMP_GROUP_DESC,
            MultipartRequestBody::Unknown { kind, .. } => *kind,
        }
    }

    pub(crate) fn body_len(&self) -> usize {
        8 + match &self.body {
            MultipartRequestBody::FlowStats(f) | MultipartRequestBody::Aggregate(f) => f.len(),
            MultipartRequestBody::PortStats(_) => 8,
            MultipartRequestBody::Unknown { body, .. } => body.len(),
            _ => 0,
        }
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.kind());
        out.put_u16(self.flags);
        put_zeros(out, 4);
        match &self.body {
            MultipartRequestBody::FlowStats(f) | MultipartRequestBody::Aggregate(f) => {
                f.encode(out)
            }
            MultipartRequestBody::PortStats(p) => {
                out.put_u32(*p);
                put_zeros(out, 4);
            }
            MultipartRequestBody::Unknown { body, .. } => out.put_slice(body),
            _ => {}
        }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<MultipartRequest, DecodeError> {
        let kind = r.u16("multipart.type")?;
        let flags = r.u16("multipart.flags")?;
        r.skip(4, "multipart.pad")?;
        let body = match kind {
            OFPMP_DESC if r.is_empty() => MultipartRequestBody::Desc,
            OFPMP_FLOW => MultipartRequestBody::FlowStats(FlowStatsRequest::decode(r)?),
            OFPMP_AGGREGATE => MultipartRequestBody::Aggregate(FlowStatsRequest::decode(r)?),
            OFPMP_TABLE if r.is_empty() => MultipartRequestBody::Table,
            OFPMP_PORT_STATS => {
                let p = r.u32("port_stats_request.port_no")?;
                r.skip(4, "port_stats_request.pad")?;
                MultipartRequestBody::PortStats(p)
            }
            OFPMP_PORT_DESC if r.is_empty() => MultipartRequestBody::PortDesc,
            OFPMP_GROUP_DESC if r.is_empty() => MultipartRequestBody::GroupDesc,
            _ => MultipartRequestBody::Unknown {
                kind,
                body: Bytes::copy_from_slice(r.take_rest()),
            },
        };
        Ok(MultipartRequest { flags, body })
    }
}

/// A multipart reply (one part; see [`REPLY_MORE`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartReply {
    pub flags: u16,
    pub body: MultipartReplyBody,
}

impl MultipartReply {
    /// `OFPMPF_REPLY_MORE`.
    pub const REPLY_MORE: u16 = REPLY_MORE;

    /// True if more parts follow.
    pub fn more(&self) -> bool {
        self.flags & REPLY_MORE != 0
    }
}

/// The body of a multipart reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MultipartReplyBody {
    Desc(Desc),
    FlowStats(Vec<FlowStats>),
    Aggregate(AggregateStats),
    Table(Vec<TableStats>),
    PortStats(Vec<PortStats>),
    PortDesc(Vec<PortDesc>),
    GroupDesc(Vec<GroupDesc>),
    Unknown { kind: u16, body: Bytes },
}

/// OFPMP_DESC reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Desc {
    pub mfr_desc: String,
    pub hw_desc: String,
    pub sw_desc: String,
    pub serial_num: String,
    pub dp_desc: String,
}

/// One flow of a flow-stats reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowStats {
    pub table_id: u8,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: u16,
    pub cookie: u64,
    pub packet_count: u64,
    pub byte_count: u64,
    pub match_: Match,
    pub instructions: Vec<Instruction>,
}

impl Wire for FlowStats {
    fn wire_len(&self) -> usize {
        48 + self.match_.wire_len() + instructions_len(&self.instructions)
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.wire_len() as u16);
        out.put_u8(self.table_id);
        out.put_u8(0);
        out.put_u32(self.duration_sec);
        out.put_u32(self.duration_nsec);
        out.put_u16(self.priority);
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u16(self.flags);
        put_zeros(out, 4);
        out.put_u64(self.cookie);
        out.put_u64(self.packet_count);
        out.put_u64(self.byte_count);
        self.match_.encode(out);
        for i in &self.instructions {
            i.encode(out);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let len = usize::from(r.u16("flow_stats.length")?);
        if len < 56 {
            return Err(DecodeError::BadLength {
                what: "flow_stats.length",
                len,
                offset: at,
            });
        }
        let mut b = r.sub(len - 2, "flow_stats")?;
        let table_id = b.u8("flow_stats.table_id")?;
        b.skip(1, "flow_stats.pad")?;
        let duration_sec = b.u32("flow_stats.duration_sec")?;
        let duration_nsec = b.u32("flow_stats.duration_nsec")?;
        let priority = b.u16("flow_stats.priority")?;
        let idle_timeout = b.u16("flow_stats.idle_timeout")?;
        let hard_timeout = b.u16("flow_stats.hard_timeout")?;
        let flags = b.u16("flow_stats.flags")?;
        b.skip(4, "flow_stats.pad2")?;
        let cookie = b.u64("flow_stats.cookie")?;
        let packet_count = b.u64("flow_stats.packet_count")?;
        let byte_count = b.u64("flow_stats.byte_count")?;
        let match_ = Match::decode(&mut b)?;
        let mut instructions = Vec::new();
        while !b.is_empty() {
            instructions.push(Instruction::decode(&mut b)?);
        }
        Ok(FlowStats {
            table_id,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            flags,
            cookie,
            packet_count,
            byte_count,
            match_,
            instructions,
        })
    }
}

/// OFPMP_AGGREGATE reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AggregateStats {
    pub packet_count: u64,
    pub byte_count: u64,
    pub flow_count: u32,
}

/// One table of an OFPMP_TABLE reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableStats {
    pub table_id: u8,
    pub active_count: u32,
    pub lookup_count: u64,
    pub matched_count: u64,
}

impl Wire for TableStats {
    fn wire_len(&self) -> usize {
        24
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.table_id);
        put_zeros(out, 3);
        out.put_u32(self.active_count);
        out.put_u64(self.lookup_count);
        out.put_u64(self.matched_count);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let table_id = r.u8("table_stats.table_id")?;
        r.skip(3, "table_stats.pad")?;
        Ok(TableStats {
            table_id,
            active_count: r.u32("table_stats.active_count")?,
            lookup_count: r.u64("table_stats.lookup_count")?,
            matched_count: r.u64("table_stats.matched_count")?,
        })
    }
}

/// One port of an OFPMP_PORT_STATS reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortStats {
    pub port_no: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_frame_err: u64,
    pub rx_over_err: u64,
    pub rx_crc_err: u64,
    pub collisions: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
}

impl Wire for PortStats {
    fn wire_len(&self) -> usize {
        112
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u32(self.port_no);
        put_zeros(out, 4);
        for v in [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ] {
            out.put_u64(v);
        }
        out.put_u32(self.duration_sec);
        out.put_u32(self.duration_nsec);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = r.u32("port_stats.port_no")?;
        r.skip(4, "port_stats.pad")?;
        Ok(PortStats {
            port_no,
            rx_packets: r.u64("port_stats.rx_packets")?,
            tx_packets: r.u64("port_stats.tx_packets")?,
            rx_bytes: r.u64("port_stats.rx_bytes")?,
            tx_bytes: r.u64("port_stats.tx_bytes")?,
            rx_dropped: r.u64("port_stats.rx_dropped")?,
            tx_dropped: r.u64("port_stats.tx_dropped")?,
            rx_errors: r.u64("port_stats.rx_errors")?,
            tx_errors: r.u64("port_stats.tx_errors")?,
            rx_frame_err: r.u64("port_stats.rx_frame_err")?,
            rx_over_err: r.u64("port_stats.rx_over_err")?,
            rx_crc_err: r.u64("port_stats.rx_crc_err")?,
            collisions: r.u64("port_stats.collisions")?,
            duration_sec: r.u32("port_stats.duration_sec")?,
            duration_nsec: r.u32("port_stats.duration_nsec")?,
        })
    }
}

/// One group of an OFPMP_GROUP_DESC reply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupDesc {
    pub group_type: GroupType,
    pub group_id: u32,
    pub buckets: Vec<Bucket>,
}

impl Wire for GroupDesc {
    fn wire_len(&self) -> usize {
        8 + self.buckets.iter().map(Wire::wire_len).sum::<usize>()
    }
    fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.wire_len() as u16);
        out.put_u8(self.group_type.to_u8());
        out.put_u8(0);
        out.put_u32(self.group_id);
        for b in &self.buckets {
            b.encode(out);
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.offset();
        let len = usize::from(r.u16("group_desc.length")?);
        if len < 8 {
            return Err(DecodeError::BadLength {
                what: "group_desc.length",
                len,
                offset: at,
            });
        }
        let mut b = r.sub(len - 2, "group_desc")?;
        let group_type = GroupType::decode(&mut b, "group_desc.type")?;
        b.skip(1, "group_desc.pad")?;
        let group_id = b.u32("group_desc.group_id")?;
        let mut buckets = Vec::new();
        while !b.is_empty() {
            buckets.push(Bucket::decode(&mut b)?);
        }
        Ok(GroupDesc {
            group_type,
            group_id,
            buckets,
        })
    }
}

fn list_len<T: Wire>(v: &[T]) -> usize {
    v.iter().map(Wire::wire_len).sum()
}

fn decode_list<T: Wire>(r: &mut Reader<'_>) -> Result<Vec<T>, DecodeError> {
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(T::decode(r)?);
    }
    Ok(v)
}

impl MultipartReply {
    fn kind(&self) -> u16 {
        match &self.body {
            MultipartReplyBody::Desc(_) => OFPMP_DESC,
            MultipartReplyBody::FlowStats(_) => OFPMP_FLOW,
            MultipartReplyBody::Aggregate(_) => OFPMP_AGGREGATE,
            MultipartReplyBody::Table(_) => OFPMP_TABLE,
            MultipartReplyBody::PortStats(_) => OFPMP_PORT_STATS,
            MultipartReplyBody::PortDesc(_) => OFPMP_PORT_DESC,
            MultipartReplyBody::GroupDesc(_) => OFPMP_GROUP_DESC,
            MultipartReplyBody::Unknown { kind, .. } => *kind,
        }
    }

    pub(crate) fn body_len(&self) -> usize {
        8 + match &self.body {
            MultipartReplyBody::Desc(_) => 1056,
            MultipartReplyBody::FlowStats(v) => list_len(v),
            MultipartReplyBody::Aggregate(_) => 24,
            MultipartReplyBody::Table(v) => list_len(v),
            MultipartReplyBody::PortStats(v) => list_len(v),
            MultipartReplyBody::PortDesc(v) => list_len(v),
            MultipartReplyBody::GroupDesc(v) => list_len(v),
            MultipartReplyBody::Unknown { body, .. } => body.len(),
        }
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) {
        out.put_u16(self.kind());
        out.put_u16(self.flags);
        put_zeros(out, 4);
        match &self.body {
            MultipartReplyBody::Desc(d) => {
                put_fixed_str(out, &d.mfr_desc, 256);
                put_fixed_str(out, &d.hw_desc, 256);
                put_fixed_str(out, &d.sw_desc, 256);
                put_fixed_str(out, &d.serial_num, 32);
                put_fixed_str(out, &d.dp_desc, 256);
            }
            MultipartReplyBody::FlowStats(v) => v.iter().for_each(|x| x.encode(out)),
            MultipartReplyBody::Aggregate(a) => {
                out.put_u64(a.packet_count);
                out.put_u64(a.byte_count);
                out.put_u32(a.flow_count);
                put_zeros(out, 4);
            }
            MultipartReplyBody::Table(v) => v.iter().for_each(|x| x.encode(out)),
            MultipartReplyBody::PortStats(v) => v.iter().for_each(|x| x.encode(out)),
            MultipartReplyBody::PortDesc(v) => v.iter().for_each(|x| x.encode(out)),
            MultipartReplyBody::GroupDesc(v) => v.iter().for_each(|x| x.encode(out)),
            MultipartReplyBody::Unknown { body, .. } => out.put_slice(body),
        }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<MultipartReply, DecodeError> {
        let kind = r.u16("multipart.type")?;
        let flags = r.u16("multipart.flags")?;
        r.skip(4, "multipart.pad")?;
        let body = match kind {
            OFPMP_DESC => MultipartReplyBody::Desc(Desc {
                mfr_desc: fixed_str(r, 256, "desc.mfr_desc")?,
                hw_desc: fixed_str(r, 256, "desc.hw_desc")?,
                sw_desc: fixed_str(r, 256, "desc.sw_desc")?,
                serial_num: fixed_str(r, 32, "desc.serial_num")?,
                dp_desc: fixed_str(r, 256, "desc.dp_desc")?,
            }),
            OFPMP_FLOW => MultipartReplyBody::FlowStats(decode_list(r)?),
            OFPMP_AGGREGATE => {
                let a = AggregateStats {
                    packet_count: r.u64("aggregate.packet_count")?,
                    byte_count: r.u64("aggregate.byte_count")?,
                    flow_count: r.u32("aggregate.flow_count")?,
                };
                r.skip(4, "aggregate.pad")?;
                MultipartReplyBody::Aggregate(a)
            }
            OFPMP_TABLE => MultipartReplyBody::Table(decode_list(r)?),
            OFPMP_PORT_STATS => MultipartReplyBody::PortStats(decode_list(r)?),
            OFPMP_PORT_DESC => MultipartReplyBody::PortDesc(decode_list(r)?),
            OFPMP_GROUP_DESC => MultipartReplyBody::GroupDesc(decode_list(r)?),
            _ => MultipartReplyBody::Unknown {
                kind,
                body: Bytes::copy_from_slice(r.take_rest()),
            },
        };
        Ok(MultipartReply { flags, body })
    }
}
