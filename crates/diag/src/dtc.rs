//! The vocabulary of a fault: its code, its UDS status byte and its severity.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A diagnostic trouble code in the SAE J2012 / OBD II form: a letter for the
/// system (`P` powertrain, `C` chassis, `B` body, `U` network) and four hex
/// digits, as in `P0A7E` or `U0111`. Stored upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DtcCode(String);

/// Why a string is not a [`DtcCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{code}\" is not a trouble code: expected P, C, B or U and four hex digits, as in P0A7E")]
pub struct InvalidDtc {
    /// What was given (cut to 32 characters).
    pub code: String,
}

impl DtcCode {
    /// The code as text (`P0A7E`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The three bytes UDS uses for this code (`ReadDTCInformation` 0x19): the
    /// two J2012 bytes and a failure-type byte of 0.
    pub fn uds_bytes(&self) -> [u8; 3] {
        let system = match self.0.as_bytes()[0] {
            b'P' => 0u8,
            b'C' => 1,
            b'B' => 2,
            _ => 3,
        };
        let digits = u16::from_str_radix(&self.0[1..], 16).unwrap_or(0);
        let high = (system << 6) | ((digits >> 8) as u8 & 0x3f);
        [high, digits as u8, 0]
    }
}

impl FromStr for DtcCode {
    type Err = InvalidDtc;

    fn from_str(code: &str) -> Result<DtcCode, InvalidDtc> {
        let upper = code.to_ascii_uppercase();
        let bytes = upper.as_bytes();
        let valid = bytes.len() == 5
            && matches!(bytes[0], b'P' | b'C' | b'B' | b'U')
            && matches!(bytes[1], b'0'..=b'3')
            && bytes[2..].iter().all(u8::is_ascii_hexdigit);
        if valid {
            Ok(DtcCode(upper))
        } else {
            Err(InvalidDtc {
                code: code.chars().take(32).collect(),
            })
        }
    }
}

impl TryFrom<String> for DtcCode {
    type Error = InvalidDtc;

    fn try_from(code: String) -> Result<DtcCode, InvalidDtc> {
        code.parse()
    }
}

impl From<DtcCode> for String {
    fn from(code: DtcCode) -> String {
        code.0
    }
}

impl fmt::Display for DtcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The UDS (ISO 14229-1) DTC status byte: eight flags, as `ReadDTCInformation`
/// reports them and SOVD's fault `status` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DtcStatus(pub u8);

impl DtcStatus {
    /// Bit 0: the most recent test failed.
    pub const TEST_FAILED: u8 = 0x01;
    /// Bit 1: a test failed during the current operation cycle.
    pub const TEST_FAILED_THIS_OPERATION_CYCLE: u8 = 0x02;
    /// Bit 2: failed in the current or the last completed operation cycle.
    pub const PENDING_DTC: u8 = 0x04;
    /// Bit 3: the failure was confirmed (debounced) and is stored.
    pub const CONFIRMED_DTC: u8 = 0x08;
    /// Bit 4: no test completed since the memory was last cleared.
    pub const TEST_NOT_COMPLETED_SINCE_LAST_CLEAR: u8 = 0x10;
    /// Bit 5: a test failed since the memory was last cleared.
    pub const TEST_FAILED_SINCE_LAST_CLEAR: u8 = 0x20;
    /// Bit 6: no test completed during the current operation cycle.
    pub const TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE: u8 = 0x40;
    /// Bit 7: the fault asks for the warning indicator (the MIL) to be lit.
    pub const WARNING_INDICATOR_REQUESTED: u8 = 0x80;

    /// Every flag with the name SOVD (and the UDS standard) gives it, from bit 0.
    pub const FLAGS: [(u8, &'static str); 8] = [
        (Self::TEST_FAILED, "testFailed"),
        (
            Self::TEST_FAILED_THIS_OPERATION_CYCLE,
            "testFailedThisOperationCycle",
        ),
        (Self::PENDING_DTC, "pendingDTC"),
        (Self::CONFIRMED_DTC, "confirmedDTC"),
        (
            Self::TEST_NOT_COMPLETED_SINCE_LAST_CLEAR,
            "testNotCompletedSinceLastClear",
        ),
        (
            Self::TEST_FAILED_SINCE_LAST_CLEAR,
            "testFailedSinceLastClear",
        ),
        (
            Self::TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE,
            "testNotCompletedThisOperationCycle",
        ),
        (
            Self::WARNING_INDICATOR_REQUESTED,
            "warningIndicatorRequested",
        ),
    ];

    /// The status of a code after its memory was cleared: no test completed yet.
    pub const CLEARED: DtcStatus = DtcStatus(
        Self::TEST_NOT_COMPLETED_SINCE_LAST_CLEAR | Self::TEST_NOT_COMPLETED_THIS_OPERATION_CYCLE,
    );

    /// Whether every bit of `flags` is set.
    pub fn has(self, flags: u8) -> bool {
        self.0 & flags == flags
    }

    /// Whether any bit of `mask` is set (the UDS `DTCStatusMask` match).
    pub fn matches(self, mask: u8) -> bool {
        self.0 & mask != 0
    }

    /// This status with `flags` set.
    pub fn with(self, flags: u8) -> DtcStatus {
        DtcStatus(self.0 | flags)
    }

    /// This status with `flags` cleared.
    pub fn without(self, flags: u8) -> DtcStatus {
        DtcStatus(self.0 & !flags)
    }

    /// The flag named `name` (`confirmedDTC`), ignoring ASCII case.
    pub fn flag_named(name: &str) -> Option<u8> {
        Self::FLAGS
            .iter()
            .find(|(_, flag)| flag.eq_ignore_ascii_case(name))
            .map(|(bit, _)| *bit)
    }
}

impl fmt::Display for DtcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X}", self.0)
    }
}

/// How serious a fault is. SOVD carries it as an integer, 1 the most severe.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The vehicle must stop or must not be driven (1).
    Critical,
    /// A function is lost or degraded (2).
    #[default]
    Error,
    /// A function works but needs attention (3).
    Warning,
    /// For information only (4).
    Info,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ];

    /// The SOVD integer: 1 (critical) to 4 (info).
    pub fn level(self) -> u8 {
        match self {
            Severity::Critical => 1,
            Severity::Error => 2,
            Severity::Warning => 3,
            Severity::Info => 4,
        }
    }

    /// The severity of SOVD integer `level`.
    pub fn from_level(level: u8) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.level() == level)
    }

    /// The lower-case name (`warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_checked_and_normalized() {
        let code: DtcCode = "p0a7e".parse().unwrap();
        assert_eq!(code.as_str(), "P0A7E");
        assert_eq!(code.uds_bytes(), [0x0A, 0x7E, 0]);
        assert_eq!(
            "U0111".parse::<DtcCode>().unwrap().uds_bytes(),
            [0xC1, 0x11, 0]
        );
        for bad in ["", "P0A7", "X0A7E", "P4A7E", "P0A7EE", "P0G00"] {
            assert!(bad.parse::<DtcCode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn status_flags_have_the_uds_bits() {
        assert_eq!(DtcStatus::CLEARED.0, 0x50);
        let status = DtcStatus::default().with(DtcStatus::TEST_FAILED | DtcStatus::CONFIRMED_DTC);
        assert_eq!(status.to_string(), "0x09");
        assert!(status.matches(0x08));
        assert!(!status.matches(0x04));
        assert_eq!(DtcStatus::flag_named("CONFIRMEDdtc"), Some(0x08));
        for (index, (bit, _)) in DtcStatus::FLAGS.iter().enumerate() {
            assert_eq!(*bit, 1 << index);
        }
    }
}
