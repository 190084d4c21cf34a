//! Break-glass's expiry: whether `kritis.grafeas.io/breakglass` may still
//! admit an object, by the host's clock. Separate because it is the only
//! part of the flow that reads the clock for the settings themselves.

use crate::host::Calls;
use crate::settings::Settings;

/// Whether break-glass may still be used: `Ok` with an optional warning when
/// it expires soon, `Err` with why it is refused (expired, or no clock to
/// tell).
pub(super) fn breakglass_expiry(
    settings: &Settings<'_>,
    calls: Calls<'_>,
) -> Result<Option<String>, String> {
    let Some(expires) = settings.breakglass_expires.as_deref() else {
        return Ok(None);
    };
    let Ok(at) = crate::clock::parse_rfc3339(expires) else {
        return Err(format!("breakglassExpires {expires:?} is not a time"));
    };
    let Some(now) = calls.now() else {
        return Err(format!(
            "break-glass is refused: it expires at {expires} and the host gives this policy no clock to tell"
        ));
    };
    if now >= at {
        return Err(format!("break-glass is refused: it expired at {expires}"));
    }
    Ok((at - now <= settings.expiry_warning_seconds()).then(|| {
        format!(
            "break-glass expires at {expires} ({}): after that, objects marked kritis.grafeas.io/breakglass are verified like any other",
            crate::clock::remaining(at - now)
        )
    }))
}
