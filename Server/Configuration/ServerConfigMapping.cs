using System.Net;
using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;

namespace MailServer.Server.Configuration;

/// <summary>Turns a <see cref="ServerConfig"/> into what other layers consume.</summary>
public static class ServerConfigMapping
{
    /// <summary>The directory of every organization's addresses. Quota MiB become bytes.</summary>
    /// <exception cref="ArgumentException">Never for a config from <see cref="ConfigLoader"/> (it refuses duplicates).</exception>
    public static MailDirectory ToDirectory(this ServerConfig config)
    {
        var organizations = new List<DirectoryOrganization>();
        var users = new List<DirectoryUser>();
        var groups = new List<DirectoryGroup>();
        var permissions = new List<DirectoryPermission>();
        foreach (var org in config.Organizations)
        {
            organizations.Add(new DirectoryOrganization(org.Id, org.Alias, org.Domains.Select(d => d.Name).ToList(), org.DefaultDomain)
            {
                Postmaster = org.Postmaster,
            });
            users.AddRange(org.Users.Select(u => new DirectoryUser(org.Id, u.Email, u.DisplayName, u.Aliases, u.PasswordHash, u.Enabled,
                u.MailboxQuotaMiB * 1024L * 1024L)));
            // A group deregistered through the WorkMail API (Enabled: false) receives no mail: it is not in the directory.
            groups.AddRange(org.Groups.Where(g => g.Enabled).Select(g => new DirectoryGroup(org.Id, g.Email, g.Aliases, g.Members)));
            permissions.AddRange(org.MailboxPermissions.Select(p => new DirectoryPermission(p.Mailbox, p.Grantee,
                p.Permissions.Aggregate(MailboxRights.None, (rights, permission) => rights | permission switch
                {
                    MailboxPermission.FullAccess => MailboxRights.FullAccess,
                    MailboxPermission.SendAs => MailboxRights.SendAs,
                    MailboxPermission.SendOnBehalf => MailboxRights.SendOnBehalf,
                    _ => MailboxRights.None,
                }))));
        }
        return MailDirectory.Build(organizations, users, groups, permissions, config.ServerName);
    }

    /// <summary>The SMTP listener limits from the Limits section.</summary>
    public static SmtpLimits ToSmtpLimits(this LimitsConfig limits) => new()
    {
        MaxMessageBytes = limits.MaxMessageBytes,
        MaxRecipients = limits.MaxRecipients,
        MaxCommandLineBytes = limits.MaxCommandLineBytes,
        MaxHeaderSectionBytes = limits.MaxHeaderSectionKiB * 1024,
        MaxMimeDepth = limits.MaxMimeDepth,
        MaxMimeParts = limits.MaxMimeParts,
        MaxAttachments = limits.MaxAttachments,
        ExternalRecipientsPerUserPerDay = limits.ExternalRecipientsPerUserPerDay,
        MaxConnectionsPerIp = limits.MaxConnectionsPerIp,
        MaxBytesInFlight = limits.MaxBytesInFlightMiB * 1024L * 1024L,
        BytesInFlightWait = TimeSpan.FromSeconds(limits.BytesInFlightWaitSeconds),
        SessionTimeout = TimeSpan.FromSeconds(limits.SessionTimeoutSeconds),
    };

    /// <summary>The three SMTP endpoints: MX, submission (STARTTLS) and submissions (implicit TLS).</summary>
    public static IReadOnlyList<SmtpEndpointOptions> SmtpEndpoints(this ListenersConfig listeners) =>
    [
        new(SmtpListenerKind.Mx, listeners.BindAddress, listeners.Smtp),
        new(SmtpListenerKind.Submission, listeners.BindAddress, listeners.Submission),
        new(SmtpListenerKind.Submissions, listeners.BindAddress, listeners.Submissions),
    ];

    /// <summary>IMAP with STARTTLS.</summary>
    public static IPEndPoint ImapEndPoint(this ListenersConfig listeners) => new(listeners.BindAddress, listeners.Imap);

    /// <summary>IMAP over implicit TLS.</summary>
    public static IPEndPoint ImapsEndPoint(this ListenersConfig listeners) => new(listeners.BindAddress, listeners.Imaps);
}
