using System.Net;
using MailServer.Rules.ContentFiltering;

namespace MailServer.Server.Configuration;

/// <summary>
/// The spam and virus engines (MailServer.ContentFiltering). Both addresses null (the default): no engine, filtering
/// off, the start-up log says so; the spam verdict is then DMARC quarantine alone (the README's "Spam and virus filtering": with no engine, a message is spam only when DMARC quarantine says so).
/// </summary>
/// <param name="RspamdUrl">rspamd's normal worker (<c>http://127.0.0.1:11333</c>): <c>/checkv2</c>; null: no spam engine.</param>
/// <param name="ClamdAddress">clamd's socket: a Unix socket path (<c>/run/clamav/clamd.ctl</c>) or host:port; null: no virus engine.</param>
/// <param name="TimeoutSeconds">How long one engine may take for one message before it counts as down (15).</param>
/// <param name="FailMode">What an engine that is down means for the message.</param>
public sealed record ContentFilteringConfig(Uri? RspamdUrl, ClamdEndPoint? ClamdAddress, int TimeoutSeconds, EngineFailMode FailMode)
{
    /// <summary>No engine configured.</summary>
    public static ContentFilteringConfig Off { get; } = new(null, null, 15, EngineFailMode.Open);

    /// <summary>rspamd's controller worker (<c>http://127.0.0.1:11334</c>) for <c>/learnspam</c> and <c>/learnham</c>; null: no learning.</summary>
    public Uri? RspamdControllerUrl { get; init; }

    /// <summary>Spam-scored messages one user may submit per hour before further submissions are deferred (a compromised-account signal).</summary>
    public int OutboundSpamPerHour { get; init; } = 10;

    /// <summary>True when at least one engine is configured.</summary>
    public bool AnyEngine => RspamdUrl is not null || ClamdAddress is not null;

    /// <summary>The per-engine timeout.</summary>
    public TimeSpan Timeout => TimeSpan.FromSeconds(TimeoutSeconds);
}

/// <summary>Where clamd listens: a Unix socket path or a TCP end point.</summary>
/// <param name="SocketPath">The Unix socket path, or null.</param>
/// <param name="Host">The host name or address, or null.</param>
/// <param name="Port">The TCP port (0 for a socket path).</param>
public sealed record ClamdEndPoint(string? SocketPath, string? Host, int Port)
{
    /// <summary>Parses "/path/to/socket" or "host:port" ("[::1]:3310" for IPv6); null when it is neither.</summary>
    public static ClamdEndPoint? Parse(string value)
    {
        if (value.StartsWith('/'))
            return new ClamdEndPoint(value, null, 0);
        var colon = value.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(value.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            || port is < 1 or > 65535)
            return null;
        var host = value[..colon].Trim('[', ']');
        return host.Length == 0 || (host.Contains(':') && !IPAddress.TryParse(host, out _)) ? null : new ClamdEndPoint(null, host, port);
    }

    /// <inheritdoc />
    public override string ToString() => SocketPath ?? (Host!.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}");
}

/// <summary>An organization's switch (Organizations[].ContentFiltering).</summary>
/// <param name="Enabled">True, false, or null: on whenever an engine is configured.</param>
public sealed record OrganizationContentFilteringConfig(bool? Enabled)
{
    /// <summary>The default: on when an engine is configured.</summary>
    public static OrganizationContentFilteringConfig Default { get; } = new((bool?)null);
}
