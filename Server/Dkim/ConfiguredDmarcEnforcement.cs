using MailServer.Protocols.Smtp;
using MailServer.Server.Configuration;

namespace MailServer.Server.Dkim;

/// <summary>
/// Dmarc.Enforce of each organization from the live configuration (a config edit applies to the next
/// message). An organization the configuration no longer knows enforces: the default of §12.
/// </summary>
internal sealed class ConfiguredDmarcEnforcement(ConfigMonitor monitor) : IDmarcEnforcementSource
{
    public bool IsEnforced(string organizationId) =>
        monitor.Config.Organizations.FirstOrDefault(o => o.Id == organizationId)?.Dmarc.Enforce ?? true;
}
