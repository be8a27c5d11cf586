using MailServer.Server.Configuration;
using MailServer.Server.MailFlow.Stages;

namespace MailServer.Server.Dkim;

/// <summary>
/// Dmarc.Enforce of each organization from the live configuration (a config edit applies to the next
/// message). An organization the configuration no longer knows enforces: the default of §12.
/// </summary>
internal sealed class ConfiguredDmarcEnforcement(Func<ServerConfig> config) : IDmarcEnforcementSource
{
    public bool IsEnforced(string organizationId) =>
        config().Organizations.FirstOrDefault(o => o.Id == organizationId)?.Dmarc.Enforce ?? true;
}
