//! What commands are given by path, read and checked here with errors that name the file: a
//! network description, a search space, and a subnet of a space (`max`, `min` or a JSON file).

use crate::arch::{Network, SearchSpace, SubnetConfig};
use crate::error::{Field, Place, Words};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Data {
        path: path.display().to_string(),
        msg: e.to_string(),
    })
}

/// The network description in the JSON file `path`, validated; errors name the file.
pub fn read_network(path: &Path) -> Result<Network> {
    Network::from_json(&read(path)?).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// The search space in the JSON file `path` (the setting `space`), validated.
pub fn read_space(path: &Path) -> Result<SearchSpace> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::bad(Field::Space, path.display(), e.to_string()))?;
    let s: SearchSpace = crate::io::parse_json(&text, &format!("search space {}", path.display()))?;
    s.validate()?;
    Ok(s)
}

/// A subnet of a search space: its largest, its smallest, or the one in a JSON file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubnetChoice {
    Max,
    Min,
    File(PathBuf),
}

impl SubnetChoice {
    /// `max`, `min`, or else the path of a subnet file.
    pub fn parse(s: &str) -> SubnetChoice {
        match s {
            "max" => SubnetChoice::Max,
            "min" => SubnetChoice::Min,
            path => SubnetChoice::File(PathBuf::from(path)),
        }
    }

    /// The subnet, checked against `space`: max or min at `res` (None: the space's largest or
    /// smallest resolution), or the file's (which sets its own resolution: `res` is refused).
    pub fn config(&self, space: &SearchSpace, res: Option<usize>) -> Result<SubnetConfig> {
        space.validate()?;
        let rs = &space.resolutions;
        let s = match self {
            SubnetChoice::Max => space.largest(res.unwrap_or(*rs.iter().max().expect("validated"))),
            SubnetChoice::Min => {
                space.smallest(res.unwrap_or(*rs.iter().min().expect("validated")))
            }
            SubnetChoice::File(path) if res.is_some() => {
                return Err(Error::bad(
                    Field::Subnet,
                    path.display(),
                    "a resolution flag applies to max and min only; the subnet file gives its own",
                ));
            }
            SubnetChoice::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::bad(
                        Field::Subnet,
                        path.display(),
                        format!("{e} (give max, min or a subnet JSON file)"),
                    )
                })?;
                let what = format!("subnet {}", path.display());
                crate::io::parse_json::<SubnetConfig>(&text, &what)?
            }
        };
        space.check(&s)?;
        Ok(s)
    }
}

/// A subnet of a trained run's space, as `eval` and `export` take it: the choice, and for max
/// and min the resolution (`resolution`; None: the space's largest for max, smallest for min).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSubnet {
    pub choice: SubnetChoice,
    pub resolution: Option<usize>,
}

impl RunSubnet {
    /// The subnet, checked against `space`; max and min at any resolution the space can run
    /// (BN is recalibrated), an error naming `resolution` where it cannot.
    pub fn config(&self, space: &SearchSpace) -> Result<SubnetConfig> {
        if let Some(r) = self.resolution
            && !matches!(self.choice, SubnetChoice::File(_))
        {
            space.validate()?;
            space.check_resolution(r, &Place::Setting(Field::Resolution))?;
        }
        self.choice.config(space, self.resolution)
    }
}

/// `e` under the setting `field` of value `v`: "`field` v: e", the fields `e` names kept.
pub fn under(field: Field, v: impl ToString, e: Error) -> Error {
    Error::bad(field, v, Words::from(e.render(&|f| f.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::mem::{Model, Published, Space};

    #[test]
    fn choices_parse_and_refuse_a_resolution_for_a_file() {
        assert_eq!(SubnetChoice::parse("max"), SubnetChoice::Max);
        assert_eq!(SubnetChoice::parse("min"), SubnetChoice::Min);
        let file = SubnetChoice::parse("best_subnet.json");
        assert_eq!(file, SubnetChoice::File("best_subnet.json".into()));
        let space = SearchSpace::default();
        let r = *space.resolutions.iter().min().unwrap();
        assert_eq!(
            SubnetChoice::Min.config(&space, None).unwrap(),
            space.smallest(r)
        );
        let e = file.config(&space, Some(r)).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Setting {
                    field: Field::Subnet,
                    ..
                }
            ),
            "{e}"
        );
        let bad = RunSubnet {
            choice: SubnetChoice::Max,
            resolution: Some(2),
        };
        let e = bad.config(&space).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Setting {
                    field: Field::Resolution,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn models_resolve_to_their_networks() {
        let mbv2 = Model::Published {
            model: Published::Mbv2 { width: Some(0.35) },
            res: Some(96),
            classes: Some(10),
        };
        let n = mbv2.network().unwrap();
        assert_eq!(n, crate::arch::models::mobilenet_v2(0.35, 96, 10));
        let sub = Model::Subnet {
            space: Space::Default {
                width: None,
                classes: None,
            },
            subnet: SubnetChoice::Min,
            res: Some(2),
        };
        let e = sub.network().unwrap_err();
        assert!(
            matches!(
                e,
                Error::Setting {
                    field: Field::Res,
                    ..
                }
            ),
            "{e}"
        );
    }
}
