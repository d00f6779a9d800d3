//! The standards' arithmetic, one plain synchronous module per standard, readable against its
//! text (see `../shared/DOMAIN.md` in the project brief and `docs/standards.md`).

pub mod noise;
