//! The files commands read, each checked and named in its errors: a network description, a
//! search space, and a subnet given as `max`, `min` or a JSON file.

use crate::arch::{Network, SearchSpace, SubnetConfig};
use crate::{Error, Result};
use std::path::Path;

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

/// The search space in the JSON file `path` (given as `--space`), validated.
pub fn read_space(path: &Path) -> Result<SearchSpace> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("--space {}: {e}", path.display())))?;
    let s: SearchSpace = crate::io::parse_json(&text, &format!("search space {}", path.display()))?;
    s.validate()?;
    Ok(s)
}

/// A subnet named on the command line: `max`, `min` (at `res`, or the space's largest or
/// smallest resolution) or a JSON file (which sets its own resolution).
pub fn parse_subnet(space: &SearchSpace, spec: &str, res: Option<usize>) -> Result<SubnetConfig> {
    space.validate()?;
    let rmax = *space
        .resolutions
        .iter()
        .max()
        .expect("validated: non-empty");
    let rmin = *space
        .resolutions
        .iter()
        .min()
        .expect("validated: non-empty");
    let s = match spec {
        "max" => space.largest(res.unwrap_or(rmax)),
        "min" => space.smallest(res.unwrap_or(rmin)),
        path if res.is_some() => {
            return Err(Error::Invalid(format!(
                "--subnet {path}: a resolution flag applies to max and min only; the subnet file gives its own"
            )));
        }
        path => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Invalid(format!(
                    "--subnet {path}: {e} (give max, min or a subnet JSON file)"
                ))
            })?;
            crate::io::parse_json::<SubnetConfig>(&text, &format!("subnet {path}"))?
        }
    };
    space.check(&s)?;
    Ok(s)
}
