//! A variant's colour: fixed by its position in the matrix (`meta.variants`), so tokio is the
//! same colour in every plot and table of a report, and in every report of the same matrix.

use plotters::style::RGBColor;

use crate::results::Results;

/// Ten colours that stay apart on white and in print (the "category10" palette); an 11th
/// variant takes the first colour again.
const COLOURS: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// The variants of one page in a fixed order, each with its colour.
#[derive(Debug, Clone, Default)]
pub struct Palette {
    names: Vec<String>,
}

impl Palette {
    /// The variants of `results`: the matrix's order, then any others the cells name.
    pub fn of(results: &Results) -> Palette {
        Palette::default().with(results)
    }

    /// Adds the variants of `results` not seen yet (for pages over two sweeps).
    pub fn with(mut self, results: &Results) -> Palette {
        let declared = results.meta.variants.iter().map(|v| v.name.as_str());
        for name in declared.chain(results.cells.iter().map(|c| c.variant.as_str())) {
            if !self.names.iter().any(|n| n == name) {
                self.names.push(name.to_owned());
            }
        }
        self
    }

    /// The colour of `variant` (a name not in the palette gets the last colour).
    pub fn colour(&self, variant: &str) -> RGBColor {
        let index = self.names.iter().position(|n| n == variant).unwrap_or(COLOURS.len() - 1);
        COLOURS[index % COLOURS.len()]
    }

    /// The same colour for CSS: `#1f77b4`.
    pub fn css(&self, variant: &str) -> String {
        css(self.colour(variant))
    }
}

/// A colour for CSS: `#1f77b4`.
pub fn css(RGBColor(r, g, b): RGBColor) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The lighter shade a dashed line (the other side of a pair) is drawn in: halfway to white,
/// so where it lies on the solid line of the same variant its dashes still show.
pub fn tint(RGBColor(r, g, b): RGBColor) -> RGBColor {
    let half = |c: u8| c + (255 - c) / 2;
    RGBColor(half(r), half(g), half(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_the_matrix_order() {
        let palette = Palette { names: vec!["tokio".into(), "smol".into()] };
        assert_eq!(palette.css("tokio"), "#1f77b4");
        assert_eq!(palette.css("smol"), "#ff7f0e");
        assert_ne!(palette.css("tokio"), palette.css("smol"));
        let many = Palette { names: (0..11).map(|i| i.to_string()).collect() };
        assert_eq!(many.css("10"), many.css("0"));
        assert_eq!(css(tint(RGBColor(0x1f, 0x77, 0xb4))), "#8fbbd9");
    }
}
