//! A scenario's vantages: one `[vantage]` table or several `[[vantage]]` entries, which
//! `--vantage` selects from (or, with one vantage, names), and which a run checks each as a
//! scenario of its own.

use super::model::{Scenario, Vantage};
use super::values::shorten;

/// What `--vantage` asked of a scenario's vantages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chosen {
    /// Every declared vantage, as declared.
    All,
    /// The scenario declares at most one vantage: this is its name.
    Renamed(String),
    /// These declared vantages (indexes in declaration order), each once.
    Some(Vec<usize>),
}

impl Scenario {
    /// Every vantage the scenario checks, in declaration order.
    pub fn vantages(&self) -> impl Iterator<Item = &Vantage> {
        std::iter::once(&self.vantage).chain(&self.more_vantages)
    }

    /// The names of the vantages, in declaration order.
    pub fn vantage_names(&self) -> Vec<&str> {
        self.vantages().map(|v| v.name.as_str()).collect()
    }

    /// One scenario per vantage, each run from that vantage alone.
    pub fn per_vantage(&self) -> Vec<Scenario> {
        self.vantages()
            .map(|v| Scenario {
                vantage: v.clone(),
                more_vantages: Vec::new(),
                ..self.clone()
            })
            .collect()
    }

    /// What `--vantage NAME...` means here, or why it cannot apply. With at most one vantage
    /// declared, one name renames it (as before `[[vantage]]` existed); with several, the names
    /// select among them.
    pub(crate) fn chosen_vantages(&self, names: &[String]) -> Result<Chosen, String> {
        if names.is_empty() {
            return Ok(Chosen::All);
        }
        if self.more_vantages.is_empty() {
            return match names {
                [name] => Ok(Chosen::Renamed(name.clone())),
                _ => Err(format!(
                    "vantage: the scenario declares one vantage (`{}`), which --vantage names: \
                     give it once, or declare the vantages as [[vantage]] entries to choose among them",
                    shorten(&self.vantage.name)
                )),
            };
        }
        let declared = self.vantage_names();
        let mut picked = Vec::new();
        for name in names {
            match declared.iter().position(|d| d == name) {
                Some(i) if !picked.contains(&i) => picked.push(i),
                Some(_) => {}
                None => {
                    return Err(format!(
                        "vantage: `{}` is not a vantage of this scenario: it declares {}",
                        shorten(name),
                        declared
                            .iter()
                            .map(|d| format!("`{}`", shorten(d)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        picked.sort_unstable();
        Ok(Chosen::Some(picked))
    }

    /// Keeps what [`Scenario::chosen_vantages`] chose.
    pub(crate) fn keep_vantages(&mut self, chosen: Chosen) {
        match chosen {
            Chosen::All => {}
            Chosen::Renamed(name) => self.vantage.name = name,
            Chosen::Some(picked) => {
                let all: Vec<Vantage> = self.vantages().cloned().collect();
                let mut kept = all
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| picked.contains(i))
                    .map(|(_, v)| v);
                if let Some(first) = kept.next() {
                    self.vantage = first;
                    self.more_vantages = kept.collect();
                }
            }
        }
    }
}
