using Microsoft.Extensions.Logging;

namespace MailServer.Server.Configuration;

/// <summary>Configuration log messages. Event ids 1000–1099 are reserved for this area.</summary>
internal static partial class ConfigLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Configuration {Path} loaded: {Organizations} organization(s), {Users} user(s)")]
    public static partial void Loaded(ILogger logger, string path, int organizations, int users);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Configuration {Path} reloaded: {Organizations} organization(s), {Users} user(s)")]
    public static partial void Reloaded(ILogger logger, string path, int organizations, int users);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Error, Message = "Configuration refused as a whole ({Errors} error(s)); the last good configuration, if any, stays in force")]
    public static partial void Refused(ILogger logger, int errors);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "Configuration error at {JsonPath}: {Problem}")]
    public static partial void Error(ILogger logger, string jsonPath, string problem);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Configuration change at {JsonPath} takes effect after restart; the running value is kept")]
    public static partial void NeedsRestart(ILogger logger, string jsonPath);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Configuration file {Path} could not be read; will retry")]
    public static partial void ReadFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Error, Message = "A configuration change listener failed")]
    public static partial void ListenerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "Watching {Folder} for changes failed; falling back to polling")]
    public static partial void WatcherFailed(ILogger logger, string folder, Exception exception);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Information, Message = "Organization {Alias}: postmaster@ and abuse@ of every domain{Bare} deliver to {Address} ({Source})")]
    public static partial void PostmasterIs(ILogger logger, string alias, string bare, string address, string source);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Warning, Message = "Organization {Alias} has no enabled user and no Postmaster: mail to postmaster@ and abuse@ its domains is refused")]
    public static partial void NoPostmaster(ILogger logger, string alias);

    /// <summary>Says where each organization's postmaster and abuse mail goes (RFC 5321 §4.5.1), and where a bare &lt;postmaster&gt; goes.</summary>
    public static void Postmasters(ILogger logger, Rules.Directory.MailDirectory directory)
    {
        for (var i = 0; i < directory.Organizations.Count; i++)
        {
            var org = directory.Organizations[i];
            var bare = ReferenceEquals(org, directory.DefaultOrganization) ? " and a bare <postmaster>" : "";
            if (directory.PostmasterOf(org) is not { } postmaster)
                NoPostmaster(logger, org.Alias);
            else
                PostmasterIs(logger, org.Alias, bare, postmaster.Address, postmaster.Configured
                    ? "Organizations[" + i + "].Postmaster"
                    : "the organization's first user; set $." + ConfigLoader.SectionName + ".Organizations[" + i + "].Postmaster to choose another user or group");
        }
    }
}
