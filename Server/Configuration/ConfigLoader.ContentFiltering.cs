using MailServer.Rules.ContentFiltering;

namespace MailServer.Server.Configuration;

// MailServer.ContentFiltering and Organizations[].ContentFiltering: read here so the shared loader changes by one line each.
public static partial class ConfigLoader
{
    private sealed partial class Parser
    {
        /// <summary>
        /// <c>"ContentFiltering": { "RspamdUrl", "RspamdControllerUrl", "ClamdAddress", "TimeoutSeconds", "FailMode": "Open|TempFail",
        /// "OutboundSpamPerHour" }</c>.
        /// </summary>
        private static ContentFilteringConfig ReadContentFiltering(JsonObjectReader? c)
        {
            if (c is null)
                return ContentFilteringConfig.Off;
            var x = ContentFilteringConfig.Off;
            Uri? Url(string key)
            {
                if (c.String(key) is not { } s)
                    return null;
                if (Uri.TryCreate(s, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Query.Length == 0)
                    return uri;
                c.Error(key, $"'{s}' is not an http:// or https:// URL such as http://127.0.0.1:11333");
                return null;
            }
            var rspamd = Url("RspamdUrl");
            var controller = Url("RspamdControllerUrl");
            ClamdEndPoint? clamd = null;
            if (c.String("ClamdAddress") is { } a)
            {
                clamd = ClamdEndPoint.Parse(a);
                if (clamd is null)
                    c.Error("ClamdAddress", $"'{a}' is neither a socket path (/run/clamav/clamd.ctl) nor host:port (127.0.0.1:3310)");
            }
            var timeout = c.Int("TimeoutSeconds", x.TimeoutSeconds, 1, 300);
            var failMode = c.Enum<EngineFailMode>("FailMode", x.FailMode) ?? x.FailMode;
            var outboundSpam = c.Int("OutboundSpamPerHour", x.OutboundSpamPerHour, 1, 100_000);
            if (controller is not null && rspamd is null)
                c.Error("RspamdControllerUrl", "needs RspamdUrl: learning teaches the rspamd that scans");
            c.Finish();
            return new ContentFilteringConfig(rspamd, clamd, timeout, failMode) { RspamdControllerUrl = controller, OutboundSpamPerHour = outboundSpam };
        }

        /// <summary><c>Organizations[].ContentFiltering: { "Enabled": true }</c>; absent: on whenever an engine is configured.</summary>
        private static OrganizationContentFilteringConfig ReadOrganizationContentFiltering(JsonObjectReader? c)
        {
            if (c is null)
                return OrganizationContentFilteringConfig.Default;
            var enabled = c.Has("Enabled") ? c.Bool("Enabled", true) : (bool?)null;
            c.Finish();
            return new OrganizationContentFilteringConfig(enabled);
        }
    }
}
