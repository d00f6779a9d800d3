//! Analog gas channel: an electrochemical NH3 or H2S cell through a transimpedance amplifier
//! into an ADC. embedded-hal 1.0 has no ADC trait, so the board supplies [`AdcChannel`].

/// One ADC input, read as a raw count.
pub trait AdcChannel {
    type Error;
    fn read_raw(&mut self) -> Result<u16, Self::Error>;
}

/// Calibration of one cell: concentration = (volts − zero_v) / span_v_per_unit, never below 0.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// ADC full-scale voltage and resolution.
    pub vref: f32,
    pub bits: u8,
    /// Output at zero gas (from a clean-air calibration).
    pub zero_v: f32,
    /// Volts per mg/m³ (from a span-gas calibration).
    pub span_v_per_mg_m3: f32,
}

impl Calibration {
    pub fn concentration(&self, raw: u16) -> f32 {
        let volts = f32::from(raw) * self.vref / ((1u32 << self.bits) - 1) as f32;
        ((volts - self.zero_v) / self.span_v_per_mg_m3).max(0.0)
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
        let n = n.max(1);
        let mut sum = 0u32;
        for _ in 0..n {
            sum += u32::from(self.adc.read_raw()?);
        }
        Ok(self.calibration.concentration((sum / u32::from(n)) as u16))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
