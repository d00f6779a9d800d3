//! Field calibration of a noise meter with an acoustic calibrator (IEC 60942: 94 or 114 dB at
//! 1 kHz) held on the microphone: the meter measures the calibrator for a few seconds and
//! keeps the offset that makes it read the calibrator's level.

/// Calibrator levels accepted (dB).
pub const REFERENCE_DB: core::ops::RangeInclusive<f32> = 80.0..=130.0;
/// The largest offset accepted (dB): more means a wrong calibrator, a covered or broken
/// microphone, or no calibrator at all.
pub const MAX_OFFSET_DB: f32 = 20.0;
/// Seconds measured.
pub const SECONDS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalError {
    /// The reference level is not a calibrator's.
    Reference,
    /// The offset would be larger than [`MAX_OFFSET_DB`].
    TooFar,
}

/// The new offset: `measured_db` was read with `current_offset` added; the result makes the
/// same sound read `reference_db`. Rounded to 0.1 dB.
pub fn noise_offset(
    reference_db: f32,
    measured_db: f32,
    current_offset: f32,
) -> Result<f32, CalError> {
    if !REFERENCE_DB.contains(&reference_db) || !measured_db.is_finite() {
        return Err(CalError::Reference);
    }
    let offset = current_offset + (reference_db - measured_db);
    if libm::fabsf(offset) > MAX_OFFSET_DB {
        return Err(CalError::TooFar);
    }
    Ok(libm::roundf(offset * 10.0) / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_from_a_calibrator() {
        // No offset yet, the meter reads 93.4 dB of a 94 dB calibrator: +0.6 dB.
        assert_eq!(noise_offset(94.0, 93.4, 0.0), Ok(0.6));
        // Read with +0.5 already added: the raw level was 92.9, so +1.1 dB.
        assert_eq!(noise_offset(94.0, 93.4, 0.5), Ok(1.1));
        assert_eq!(noise_offset(114.0, 114.3, 0.0), Ok(-0.3));
        assert_eq!(noise_offset(60.0, 59.0, 0.0), Err(CalError::Reference));
        assert_eq!(noise_offset(94.0, 40.0, 0.0), Err(CalError::TooFar));
        assert_eq!(noise_offset(94.0, f32::NAN, 0.0), Err(CalError::Reference));
    }
}
