//! Files only their owner may read: the secrets Berth writes beside its database (the audit
//! key, the first admin's generated password) and its backups.

use std::io::Write;
use std::path::Path;

/// Writes `contents` to a new file at `path` (never over an existing one), readable by its
/// owner only from the start, so no other user can open it in between.
pub fn create(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

/// Makes an existing file readable by its owner only.
pub fn restrict(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
