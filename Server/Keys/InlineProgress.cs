namespace MailServer.Server.Keys;

/// <summary>
/// Reports progress on the reporting thread, in order. <see cref="Progress{T}"/> posts each report to the thread
/// pool instead, so under load the report of a rotation's last batch could run after the rotation recorded "done"
/// and put it back to "running" for good (a `keys rotate` waiting for "done" then waited forever).
/// </summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
