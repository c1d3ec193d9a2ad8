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

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::Path;

    use crate::scenario::model::LocalBind;
    use crate::scenario::{Format, Overrides, load_str};

    const HEAD: &str = "name = \"s\"\n[login]\nhosts = [\"login.microsoftonline.com\"]\n";

    fn load(tail: &str) -> Result<crate::scenario::Scenario, String> {
        load_str(&format!("{HEAD}{tail}"), Path::new("s.toml"), Format::Toml)
            .map_err(|e| e.to_string())
    }

    const TWO: &str = "[[vantage]]\nname = \"office\"\nbind = \"127.0.0.10\"\n\n\
                       [[vantage]]\nname = \"guest\"\ninterface = \"wlan0\"\nexpect_anchored = false\n";

    #[test]
    fn one_table_and_several_entries_both_read() {
        let one = load("[vantage]\nname = \"hq\"\nbind = \"::1\"\n").unwrap();
        assert_eq!(one.vantage_names(), ["hq"]);
        assert_eq!(
            one.vantage.bind,
            Some(LocalBind::Address("::1".parse::<IpAddr>().unwrap()))
        );
        assert!(one.more_vantages.is_empty());

        let two = load(TWO).unwrap();
        assert_eq!(two.vantage_names(), ["office", "guest"]);
        assert_eq!(
            two.vantage.bind,
            Some(LocalBind::Address("127.0.0.10".parse().unwrap()))
        );
        assert!(two.vantage.expect_anchored);
        let guest = &two.more_vantages[0];
        assert_eq!(guest.bind, Some(LocalBind::Interface("wlan0".into())));
        assert!(!guest.expect_anchored);

        // No vantage at all: the one default vantage, bound nowhere.
        let none = load("").unwrap();
        assert_eq!(none.vantage_names(), ["default"]);
        assert_eq!(none.vantage.bind, None);
    }

    #[test]
    fn json_takes_an_array_of_vantages_too() {
        let text = r#"{"name": "s", "login": {"hosts": ["login.microsoftonline.com"]},
            "vantage": [{"name": "a", "bind": "127.0.0.10"}, {"name": "a"}]}"#;
        let e = load_str(text, Path::new("s.json"), Format::Json)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("vantage[1].name: duplicate vantage name `a` (first used at"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_names_and_bad_binds_are_each_reported_at_their_value() {
        let e = load(
            "[[vantage]]\nname = \"a\"\nbind = \"lan\"\n\n[[vantage]]\nname = \"a\"\n\
             bind = \"10.0.0.1\"\ninterface = \"eth0\"\n",
        )
        .unwrap_err();
        assert!(
            e.contains("s.toml:6:8: vantage[0].bind: `lan` is not an IP address"),
            "{e}"
        );
        assert!(
            e.contains(
                "s.toml:9:8: vantage[1].name: duplicate vantage name `a` (first used at 5:8)"
            ),
            "{e}"
        );
        assert!(
            e.contains("s.toml:11:13: vantage[1].interface: give either bind"),
            "{e}"
        );
    }

    #[test]
    fn per_vantage_splits_a_scenario_into_one_per_vantage() {
        let two = load(TWO).unwrap();
        let split = two.per_vantage();
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].vantage_names(), ["office"]);
        assert_eq!(split[1].vantage_names(), ["guest"]);
        assert!(!split[1].vantage.expect_anchored);
        assert_eq!(split[1].login, two.login);
    }

    #[test]
    fn vantage_flags_select_among_several_and_name_a_single_one() {
        let mut two = load(TWO).unwrap();
        let mut o = Overrides {
            vantage: vec!["guest".into()],
            dns: vec!["127.0.0.1:5353".parse().unwrap()],
            ..Overrides::default()
        };
        two.apply(&o).unwrap();
        assert_eq!(two.vantage_names(), ["guest"]);
        // --dns applies to every vantage (here: the one kept).
        assert_eq!(two.vantage.dns, o.dns);

        let mut two = load(TWO).unwrap();
        o.vantage = vec!["guest".into(), "office".into(), "guest".into()];
        two.apply(&o).unwrap();
        assert_eq!(
            two.vantage_names(),
            ["office", "guest"],
            "declared order, once each"
        );
        assert!(two.vantages().all(|v| v.dns == o.dns));

        let mut two = load(TWO).unwrap();
        let before = two.clone();
        o.vantage = vec!["lobby".into()];
        let e = two.apply(&o).unwrap_err();
        assert_eq!(
            e,
            "vantage: `lobby` is not a vantage of this scenario: it declares `office`, `guest`"
        );
        assert_eq!(two, before, "a refused override changes nothing");

        let mut one = load("[vantage]\nname = \"hq\"\n").unwrap();
        o.vantage = vec!["ci-runner-1".into()];
        one.apply(&o).unwrap();
        assert_eq!(one.vantage_names(), ["ci-runner-1"]);
        o.vantage = vec!["a".into(), "b".into()];
        let e = one.apply(&o).unwrap_err();
        assert!(e.contains("declares one vantage (`ci-runner-1`)"), "{e}");
    }
}
