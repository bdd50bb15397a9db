using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using RffService.Inference.Models;
using RffService.TestSupport;
using RffService.Vision.Configuration;

namespace RffService.Api.Tests;

/// <summary>The app on a real Kestrel port (a browser cannot reach the in-memory test server).</summary>
public sealed class KestrelServiceFactory : ServiceFactory
{
    public KestrelServiceFactory() => UseKestrel(0);

    public async Task<string> StartAsync()
    {
        StartServer();
        await Services.GetRequiredService<ModelRepository>().Loaded.WaitAsync(TimeSpan.FromSeconds(60));
        var addresses = Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        return addresses.First().Replace("[::]", "127.0.0.1").Replace("0.0.0.0", "127.0.0.1");
    }
}

/// <summary>
/// Drives the demo page in headless Chromium (Debian's chromium package, at <see cref="ChromiumPath"/>; .ci/run installs it):
/// upload an image, wait for the results, check the labels and that the overlays loaded, keep a screenshot.
/// </summary>
[Trait("Category", "Slow")]
[Trait("Needs", "Browser")]
public class DemoPageBrowserTests(KestrelServiceFactory factory) : IClassFixture<KestrelServiceFactory>
{
    public const string ChromiumPath = "/usr/bin/chromium";
    private static readonly string Screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");

    private static async Task<(IPlaywright, IBrowser)> LaunchAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"The browser tests need Chromium at {ChromiumPath} (Debian: apt-get install chromium).");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            Timeout = 120_000, // a cold first start on a busy 2-core machine is slow
        });
        return (playwright, browser);
    }

    private static readonly string Uploads = Path.Combine(Path.GetTempPath(), "rff-demo-uploads");

    /// <summary>A file to upload (overwritten by each run, so nothing piles up in the temp folder).</summary>
    private static string WriteImage(byte[] bytes, string name)
    {
        Directory.CreateDirectory(Uploads);
        string path = Path.Combine(Uploads, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>The demo page, loaded, with the tiny classifier chosen.</summary>
    private async Task<IPage> OpenAsync(IBrowser browser)
    {
        string baseUrl = await factory.StartAsync();
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(90_000); // generous: CI machines are small and busy; a real failure still fails
        await page.GotoAsync(baseUrl + "/");
        await page.WaitForSelectorAsync("#model option[value='tiny']", new() { State = WaitForSelectorState.Attached });
        await page.SelectOptionAsync("#model", "tiny");
        return page;
    }

    [Fact]
    public async Task Classify_with_cam_then_detect_in_the_browser()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await OpenAsync(browser);
        var consoleErrors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") consoleErrors.Add(message.Text); };

        string image = WriteImage(TestImages.Png(48, 48), "gradient.png");
        await page.SetInputFilesAsync("#file", image);

        await page.WaitForSelectorAsync("#predictions li.prediction");
        // Wait for the first explanation before changing the method, so the assertion below sees the second one.
        await page.WaitForFunctionAsync("() => document.getElementById('cam-caption').textContent.startsWith('gradcam')");
        var labels = await page.Locator("#predictions .label").AllInnerTextsAsync();
        Assert.Equal(3, labels.Count);
        Assert.All(labels, l => Assert.Contains(l, TestModelRepository.Labels));
        await page.WaitForFunctionAsync("() => { const i = document.getElementById('cam-overlay'); return i.complete && i.naturalWidth > 0; }");
        Assert.Equal(48, await page.EvaluateAsync<int>("document.getElementById('cam-overlay').naturalWidth"));
        Assert.Contains("tiny", await page.InnerTextAsync("#status"));
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "demo-classify.png"), FullPage = true });

        // A CAM method change re-explains the same image.
        await page.SelectOptionAsync("#cam-method", "layercam");
        await page.WaitForFunctionAsync("() => document.getElementById('cam-caption').textContent.startsWith('layercam')");

        // The detector: one bright cell, drawn on the overlay and listed.
        await page.SelectOptionAsync("#model", "detector");
        using var bitmap = new SkiaSharp.SKBitmap(64, 64);
        bitmap.Erase(SkiaSharp.SKColors.Black);
        for (int y = 16; y < 32; y++)
            for (int x = 16; x < 32; x++) bitmap.SetPixel(x, y, SkiaSharp.SKColors.White);
        await page.SetInputFilesAsync("#file", WriteImage(TestImages.Encode(bitmap, SkiaSharp.SKEncodedImageFormat.Png), "square.png"));
        await page.WaitForSelectorAsync("#detections li.detection");
        Assert.StartsWith(TestModelRepository.BrightLabel, await page.InnerTextAsync("#detections li.detection"));
        await page.WaitForFunctionAsync("() => { const i = document.getElementById('detection-overlay'); return i.complete && i.naturalWidth === 64; }");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "demo-detect.png"), FullPage = true });

        Assert.False(await page.IsVisibleAsync("#error"));
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task A_bad_file_shows_the_problem_detail()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await OpenAsync(browser);

        await page.SetInputFilesAsync("#file", WriteImage("not an image"u8.ToArray(), "fake.png"));

        await page.WaitForSelectorAsync("#error:not([hidden])");
        Assert.Contains("image", await page.InnerTextAsync("#error"), StringComparison.OrdinalIgnoreCase);
    }
}
