//! Where opsdeck keeps its files, following the XDG base directory specification:
//! config in `$XDG_CONFIG_HOME/opsdeck`, the state database in `$XDG_DATA_HOME/opsdeck`,
//! logs in `$XDG_STATE_HOME/opsdeck`.

use std::path::PathBuf;

use directories::ProjectDirs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl Paths {
    /// `None` when no home directory can be found (no `$HOME` and no passwd entry).
    pub fn discover() -> Option<Paths> {
        let dirs = ProjectDirs::from("", "", "opsdeck")?;
        let data_dir = dirs.data_dir().to_path_buf();
        Some(Paths {
            config_dir: dirs.config_dir().to_path_buf(),
            state_dir: dirs
                .state_dir()
                .map_or_else(|| data_dir.clone(), |dir| dir.to_path_buf()),
            data_dir,
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    pub fn themes_dir(&self) -> PathBuf {
        self.config_dir.join("themes")
    }

    pub fn default_state_database(&self) -> PathBuf {
        self.data_dir.join("state.db")
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("opsdeck.log")
    }
}
