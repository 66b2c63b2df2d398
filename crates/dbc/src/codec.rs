//! Compiled messages and signals: bit layout, decoding and encoding.

/// Byte order of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    /// Intel: the start bit is the least significant bit.
    LittleEndian,
    /// Motorola: the start bit is the most significant bit (DBC sawtooth numbering).
    BigEndian,
}

/// How the raw bits of a signal are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// An unsigned integer.
    Unsigned,
    /// A two's complement integer.
    Signed,
    /// An IEEE 754 single (32 bits).
    Float32,
    /// An IEEE 754 double (64 bits).
    Float64,
}

/// When a signal is present in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Multiplexing {
    /// Always present.
    Always,
    /// Present when the multiplexor signal (by index) has a raw value in one of the ranges.
    When {
        /// Index of the multiplexor signal in the message.
        switch: usize,
        /// Inclusive ranges of the switch's raw value.
        ranges: Vec<(u64, u64)>,
    },
}

/// A compiled signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub(crate) name: String,
    pub(crate) start_bit: u32,
    pub(crate) size: u32,
    pub(crate) byte_order: ByteOrder,
    pub(crate) kind: ValueKind,
    pub(crate) factor: f64,
    pub(crate) offset: f64,
    pub(crate) minimum: f64,
    pub(crate) maximum: f64,
    pub(crate) unit: String,
    pub(crate) multiplexing: Multiplexing,
    pub(crate) is_multiplexor: bool,
    pub(crate) value_table: Vec<(i64, String)>,
    /// First byte holding the signal's bits.
    pub(crate) first_byte: usize,
    /// Number of bytes holding the signal's bits (1..=9).
    pub(crate) byte_count: usize,
    /// Right shift applied to the assembled bytes.
    pub(crate) shift: u32,
}

impl Signal {
    /// The signal's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start bit as written in the DBC.
    pub fn start_bit(&self) -> u32 {
        self.start_bit
    }

    /// Length in bits.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Byte order.
    pub fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }

    /// How the raw bits are read.
    pub fn kind(&self) -> ValueKind {
        self.kind
    }

    /// Scale factor.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// Offset.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// Minimum physical value declared in the DBC (0 when unset).
    pub fn minimum(&self) -> f64 {
        self.minimum
    }

    /// Maximum physical value declared in the DBC (0 when unset).
    pub fn maximum(&self) -> f64 {
        self.maximum
    }

    /// Unit, possibly empty.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// When the signal is present.
    pub fn multiplexing(&self) -> &Multiplexing {
        &self.multiplexing
    }

    /// Whether other signals depend on this one's value.
    pub fn is_multiplexor(&self) -> bool {
        self.is_multiplexor
    }

    /// The value table (`VAL_`): raw value → label.
    pub fn value_table(&self) -> &[(i64, String)] {
        &self.value_table
    }

    /// The raw value of `label` in the value table.
    pub fn raw_of_label(&self, label: &str) -> Option<i64> {
        self.value_table
            .iter()
            .find(|(_, l)| l == label)
            .map(|(raw, _)| *raw)
    }

    /// The label of `raw` in the value table.
    pub fn label_of_raw(&self, raw: i64) -> Option<&str> {
        self.value_table
            .iter()
            .find(|(r, _)| *r == raw)
            .map(|(_, l)| l.as_str())
    }

    /// Number of bytes a frame needs for this signal to be present.
    pub fn needed_len(&self) -> usize {
        self.first_byte + self.byte_count
    }

    /// Computes the byte span and shift from start bit, size and byte order.
    pub(crate) fn layout(start_bit: u32, size: u32, byte_order: ByteOrder) -> (usize, usize, u32) {
        match byte_order {
            ByteOrder::LittleEndian => {
                let first = start_bit / 8;
                let last = (start_bit + size.max(1) - 1) / 8;
                (first as usize, (last - first + 1) as usize, start_bit % 8)
            }
            ByteOrder::BigEndian => {
                // Position of the most significant bit counted from the MSB of byte 0.
                let msb = (start_bit / 8) * 8 + (7 - start_bit % 8);
                let lsb = msb + size.max(1) - 1;
                let first = msb / 8;
                let last = lsb / 8;
                (first as usize, (last - first + 1) as usize, 7 - lsb % 8)
            }
        }
    }

    /// The raw bits of the signal, or `None` when the frame is too short.
    #[inline]
    pub fn raw_bits(&self, data: &[u8]) -> Option<u64> {
        let bytes = data.get(self.first_byte..self.first_byte + self.byte_count)?;
        let mut assembled: u128 = 0;
        match self.byte_order {
            ByteOrder::LittleEndian => {
                for (i, byte) in bytes.iter().enumerate() {
                    assembled |= u128::from(*byte) << (8 * i);
                }
            }
            ByteOrder::BigEndian => {
                for byte in bytes {
                    assembled = (assembled << 8) | u128::from(*byte);
                }
            }
        }
        let mask: u128 = if self.size >= 64 {
            u128::from(u64::MAX)
        } else {
            (1u128 << self.size) - 1
        };
        Some(((assembled >> self.shift) & mask) as u64)
    }

    /// The physical value of raw bits `raw`.
    #[inline]
    pub fn physical(&self, raw: u64) -> f64 {
        let number = match self.kind {
            ValueKind::Unsigned => raw as f64,
            ValueKind::Signed => sign_extend(raw, self.size) as f64,
            ValueKind::Float32 => f64::from(f32::from_bits(raw as u32)),
            ValueKind::Float64 => f64::from_bits(raw),
        };
        number * self.factor + self.offset
    }

    /// The raw bits for physical value `value` (rounded, saturated to the signal's width).
    pub fn raw_for(&self, value: f64) -> u64 {
        let scaled = (value - self.offset) / self.factor;
        match self.kind {
            ValueKind::Float32 => u64::from((scaled as f32).to_bits()),
            ValueKind::Float64 => scaled.to_bits(),
            ValueKind::Unsigned => {
                let max = if self.size >= 64 {
                    u64::MAX as f64
                } else {
                    ((1u64 << self.size) - 1) as f64
                };
                scaled.round().clamp(0.0, max) as u64
            }
            ValueKind::Signed => {
                let bits = self.size.clamp(1, 64);
                let max = if bits >= 64 {
                    i64::MAX
                } else {
                    (1i64 << (bits - 1)) - 1
                };
                let min = if bits >= 64 {
                    i64::MIN
                } else {
                    -(1i64 << (bits - 1))
                };
                let raw = (scaled.round() as i64).clamp(min, max) as u64;
                if bits >= 64 {
                    raw
                } else {
                    raw & ((1u64 << bits) - 1)
                }
            }
        }
    }

    /// Writes raw bits `raw` into `data` (which must be long enough).
    pub fn write_raw(&self, data: &mut [u8], raw: u64) {
        let Some(bytes) = data.get_mut(self.first_byte..self.first_byte + self.byte_count) else {
            return;
        };
        let mask: u128 = if self.size >= 64 {
            u128::from(u64::MAX)
        } else {
            (1u128 << self.size) - 1
        };
        let field_mask = mask << self.shift;
        let field = (u128::from(raw) & mask) << self.shift;
        let count = bytes.len();
        let mut assembled: u128 = 0;
        match self.byte_order {
            ByteOrder::LittleEndian => {
                for (i, byte) in bytes.iter().enumerate() {
                    assembled |= u128::from(*byte) << (8 * i);
                }
                assembled = (assembled & !field_mask) | field;
                for (i, byte) in bytes.iter_mut().enumerate() {
                    *byte = (assembled >> (8 * i)) as u8;
                }
            }
            ByteOrder::BigEndian => {
                for byte in bytes.iter() {
                    assembled = (assembled << 8) | u128::from(*byte);
                }
                assembled = (assembled & !field_mask) | field;
                for (i, byte) in bytes.iter_mut().enumerate() {
                    *byte = (assembled >> (8 * (count - 1 - i))) as u8;
                }
            }
        }
    }
}

#[inline]
fn sign_extend(raw: u64, size: u32) -> i64 {
    if size == 0 || size >= 64 {
        return raw as i64;
    }
    let shift = 64 - size;
    ((raw << shift) as i64) >> shift
}

/// A compiled message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub(crate) id: u32,
    pub(crate) extended: bool,
    pub(crate) name: String,
    pub(crate) size: usize,
    pub(crate) cycle_time_ms: Option<u32>,
    pub(crate) signals: Vec<Signal>,
    /// Signal indices in an order where every multiplexor precedes the signals it selects.
    pub(crate) order: Vec<usize>,
}

impl Message {
    /// The CAN id (without the extended flag).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether the id is a 29-bit extended id.
    pub fn is_extended(&self) -> bool {
        self.extended
    }

    /// The message's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Length in bytes declared in the DBC.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Cycle time from the `GenMsgCycleTime` attribute, if any.
    pub fn cycle_time_ms(&self) -> Option<u32> {
        self.cycle_time_ms
    }

    /// The signals, in DBC order; indices into this slice identify signals.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }

    /// The index of the signal called `name`.
    pub fn signal_index(&self, name: &str) -> Option<usize> {
        self.signals.iter().position(|s| s.name == name)
    }

    /// Decodes `data`, calling `emit(signal index, physical value)` for every signal
    /// present (multiplexing and frame length considered), in DBC order of dependency.
    /// Returns whether every non-multiplexed signal was present (false for a short frame).
    #[inline]
    pub fn decode(&self, data: &[u8], mut emit: impl FnMut(usize, f64)) -> bool {
        // Raw values of multiplexors, by signal index; messages have few of them.
        let mut switches: [(usize, u64); 4] = [(usize::MAX, 0); 4];
        let mut switch_count = 0;
        let mut complete = true;
        for &index in &self.order {
            let signal = &self.signals[index];
            if let Multiplexing::When { switch, ranges } = &signal.multiplexing {
                let selector = switches[..switch_count]
                    .iter()
                    .find(|(i, _)| i == switch)
                    .map(|(_, raw)| *raw);
                match selector {
                    Some(raw)
                        if ranges
                            .iter()
                            .any(|(low, high)| (*low..=*high).contains(&raw)) => {}
                    _ => continue,
                }
            }
            let Some(raw) = signal.raw_bits(data) else {
                complete = false;
                continue;
            };
            if signal.is_multiplexor && switch_count < switches.len() {
                switches[switch_count] = (index, raw);
                switch_count += 1;
            }
            emit(index, signal.physical(raw));
        }
        complete
    }

    /// Encodes physical `values` (signal index, value) into a frame of the message's
    /// length. Signals not given take their value from `default_for` (physical), or 0.
    /// Multiplexors of given multiplexed signals are set so that the signals are selected.
    pub fn encode(
        &self,
        values: &[(usize, f64)],
        default_for: impl Fn(&Signal) -> Option<f64>,
    ) -> Vec<u8> {
        let mut data = vec![0u8; self.size];
        let mut chosen: Vec<Option<u64>> = vec![None; self.signals.len()];
        for (index, value) in values {
            if let Some(signal) = self.signals.get(*index) {
                chosen[*index] = Some(signal.raw_for(*value));
                if let Multiplexing::When { switch, ranges } = &signal.multiplexing {
                    if chosen[*switch].is_none() {
                        chosen[*switch] = ranges.first().map(|(low, _)| *low);
                    }
                }
            }
        }
        for (index, signal) in self.signals.iter().enumerate() {
            let raw = match chosen[index] {
                Some(raw) => raw,
                None => match default_for(signal) {
                    Some(value) => signal.raw_for(value),
                    None => continue,
                },
            };
            if let Multiplexing::When { switch, ranges } = &signal.multiplexing {
                let selected = chosen[*switch].unwrap_or(0);
                if !ranges
                    .iter()
                    .any(|(low, high)| (*low..=*high).contains(&selected))
                {
                    continue;
                }
            }
            signal.write_raw(&mut data, raw);
        }
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(start_bit: u32, size: u32, byte_order: ByteOrder, kind: ValueKind) -> Signal {
        let (first_byte, byte_count, shift) = Signal::layout(start_bit, size, byte_order);
        Signal {
            name: "S".into(),
            start_bit,
            size,
            byte_order,
            kind,
            factor: 1.0,
            offset: 0.0,
            minimum: 0.0,
            maximum: 0.0,
            unit: String::new(),
            multiplexing: Multiplexing::Always,
            is_multiplexor: false,
            value_table: Vec::new(),
            first_byte,
            byte_count,
            shift,
        }
    }

    #[test]
    fn little_endian_fields() {
        let s = signal(4, 12, ByteOrder::LittleEndian, ValueKind::Unsigned);
        assert_eq!(s.raw_bits(&[0xAB, 0xCD]), Some(0xCDA));
        let s = signal(0, 64, ByteOrder::LittleEndian, ValueKind::Unsigned);
        assert_eq!(
            s.raw_bits(&[1, 2, 3, 4, 5, 6, 7, 8]),
            Some(0x0807060504030201)
        );
    }

    #[test]
    fn big_endian_fields() {
        // Motorola 16-bit signal with MSB at bit 7 of byte 0: bytes 0..2 big-endian.
        let s = signal(7, 16, ByteOrder::BigEndian, ValueKind::Unsigned);
        assert_eq!(s.raw_bits(&[0x12, 0x34]), Some(0x1234));
        // 12-bit signal whose MSB is bit 3 of byte 0: the low nibble of byte 0, then byte 1.
        let s = signal(3, 12, ByteOrder::BigEndian, ValueKind::Unsigned);
        assert_eq!(s.raw_bits(&[0b0000_1010, 0b1011_1100, 0xFF]), Some(0xABC));
        assert_eq!(s.needed_len(), 2);
        // 13 bits from the same start reach the MSB of byte 2.
        let s = signal(3, 13, ByteOrder::BigEndian, ValueKind::Unsigned);
        assert_eq!(
            s.raw_bits(&[0b0000_1010, 0b1011_1100, 0b1000_0000]),
            Some(0x1579)
        );
        assert_eq!(s.needed_len(), 3);
    }

    #[test]
    fn signed_and_float_values() {
        let s = signal(0, 8, ByteOrder::LittleEndian, ValueKind::Signed);
        assert_eq!(s.physical(0xFF), -1.0);
        let f = signal(0, 32, ByteOrder::LittleEndian, ValueKind::Float32);
        let raw = f.raw_bits(&1.5f32.to_le_bytes()).unwrap();
        assert_eq!(f.physical(raw), 1.5);
    }

    #[test]
    fn write_then_read_round_trips() {
        let layouts = [
            (
                ByteOrder::LittleEndian,
                [(7, 16), (3, 12), (12, 20), (0, 1), (0, 64)],
            ),
            (
                ByteOrder::BigEndian,
                [(7, 16), (3, 12), (12, 20), (0, 1), (7, 64)],
            ),
        ];
        for (order, fields) in layouts {
            for (start, size) in fields {
                let s = signal(start, size, order, ValueKind::Signed);
                let mut data = [0xA5u8; 9];
                let value = if size == 1 { -1.0 } else { -5.0 };
                s.write_raw(&mut data, s.raw_for(value));
                assert_eq!(
                    s.physical(s.raw_bits(&data).unwrap()),
                    value,
                    "{order:?} {start}|{size}"
                );
            }
        }
    }

    #[test]
    fn short_frames_skip_signals_they_cannot_hold() {
        let s = signal(56, 8, ByteOrder::LittleEndian, ValueKind::Unsigned);
        assert_eq!(s.raw_bits(&[0; 7]), None);
    }
}
