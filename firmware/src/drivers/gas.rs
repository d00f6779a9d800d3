//! Analog gas channel: an electrochemical NH3 or H2S cell through a transimpedance amplifier
//! into an ADC. embedded-hal 1.0 has no ADC trait, so the board supplies [`AdcChannel`].

/// One ADC input, read as a raw count.
pub trait AdcChannel {
    type Error;
    fn read_raw(&mut self) -> Result<u16, Self::Error>;
}

/// Calibration of one cell: concentration = (volts − zero_v) / span_v_per_unit, never below 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// ADC full-scale voltage and resolution.
    pub vref: f32,
    pub bits: u8,
    /// Output at zero gas (from a clean-air calibration).
    pub zero_v: f32,
    /// Volts per mg/m³ (from a span-gas calibration).
    pub span_v_per_mg_m3: f32,
}

/// A calibration the cell's output does not allow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalError {
    /// The output is at a rail: the cell or its stage is not connected.
    Rail,
    /// The span gas gives no more output than clean air (or a concentration of zero).
    NoSpan,
}

impl Calibration {
    /// Volts of a raw ADC reading.
    pub fn volts(&self, raw: u16) -> f32 {
        f32::from(raw) * self.vref / ((1u32 << self.bits) - 1) as f32
    }

    pub fn concentration(&self, raw: u16) -> f32 {
        ((self.volts(raw) - self.zero_v) / self.span_v_per_mg_m3).max(0.0)
    }

    /// Zero calibration: `raw` is the output in clean air.
    pub fn zeroed(&self, raw: u16) -> Result<Calibration, CalError> {
        let full = ((1u32 << self.bits) - 1) as u16;
        if raw == 0 || raw >= full {
            return Err(CalError::Rail);
        }
        Ok(Calibration {
            zero_v: self.volts(raw),
            ..*self
        })
    }

    /// Span calibration: `raw` is the output with `mg_m3` of span gas on the cell.
    pub fn spanned(&self, raw: u16, mg_m3: f32) -> Result<Calibration, CalError> {
        let full = ((1u32 << self.bits) - 1) as u16;
        if raw >= full {
            return Err(CalError::Rail);
        }
        let span = (self.volts(raw) - self.zero_v) / mg_m3;
        if !(mg_m3 > 0.0 && span.is_finite() && span > 1e-4) {
            return Err(CalError::NoSpan);
        }
        Ok(Calibration {
            span_v_per_mg_m3: span,
            ..*self
        })
    }
}

/// A gas channel averaging `N` ADC reads per value.
pub struct GasChannel<A> {
    adc: A,
    pub calibration: Calibration,
}

impl<A: AdcChannel> GasChannel<A> {
    pub fn new(adc: A, calibration: Calibration) -> Self {
        GasChannel { adc, calibration }
    }

    pub fn release(self) -> A {
        self.adc
    }

    /// Mean of `n` reads, in mg/m³.
    pub fn read(&mut self, n: u16) -> Result<f32, A::Error> {
        let raw = self.read_mean(n)?;
        Ok(self.calibration.concentration(raw))
    }

    /// Mean of `n` raw reads.
    pub fn read_mean(&mut self, n: u16) -> Result<u16, A::Error> {
        let n = n.max(1);
        let mut sum = 0u32;
        for _ in 0..n {
            sum += u32::from(self.adc.read_raw()?);
        }
        Ok((sum / u32::from(n)) as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_span_from_the_cell_s_output() {
        let c = Calibration {
            vref: 3.3,
            bits: 12,
            zero_v: 0.6,
            span_v_per_mg_m3: 0.05,
        };
        // Clean air reads 0.62 V (raw 770): that is the new zero.
        let z = c.zeroed(770).unwrap();
        assert!((z.zero_v - 770.0 * 3.3 / 4095.0).abs() < 1e-6);
        assert_eq!(z.concentration(770), 0.0);
        // 10 mg/m³ of span gas reads 0.5 V more: 0.05 V per mg/m³.
        let raw = ((z.zero_v + 0.5) / 3.3 * 4095.0).round() as u16;
        let s = z.spanned(raw, 10.0).unwrap();
        assert!(
            (s.span_v_per_mg_m3 - 0.05).abs() < 1e-3,
            "{}",
            s.span_v_per_mg_m3
        );
        assert!((s.concentration(raw) - 10.0).abs() < 0.05);
        assert_eq!(c.zeroed(0), Err(CalError::Rail));
        assert_eq!(c.zeroed(4095), Err(CalError::Rail));
        assert_eq!(z.spanned(770, 10.0), Err(CalError::NoSpan));
        assert_eq!(z.spanned(raw, 0.0), Err(CalError::NoSpan));
    }

    struct Fixed(u16);
    impl AdcChannel for Fixed {
        type Error = ();
        fn read_raw(&mut self) -> Result<u16, ()> {
            Ok(self.0)
        }
    }

    #[test]
    fn calibrated_concentration() {
        // 12-bit ADC at 3.3 V; zero 0.4 V; 0.5 V per mg/m³ NH3.
        let cal = Calibration {
            vref: 3.3,
            bits: 12,
            zero_v: 0.4,
            span_v_per_mg_m3: 0.5,
        };
        // 0.9 V ≈ raw 1117 → (0.9 − 0.4)/0.5 = 1.0 mg/m³ (class-2 limit).
        let mut ch = GasChannel::new(Fixed(1117), cal);
        assert!((ch.read(8).unwrap() - 1.0).abs() < 0.002);
        let mut below_zero = GasChannel::new(Fixed(100), cal);
        assert_eq!(below_zero.read(1).unwrap(), 0.0);
    }
}
