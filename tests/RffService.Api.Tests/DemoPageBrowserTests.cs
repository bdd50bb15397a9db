using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using RffService.Inference.Models;
using RffService.TestSupport;

namespace RffService.Api.Tests;

/// <summary>The app on a real Kestrel port (a browser cannot reach the in-memory test server).</summary>
public sealed class KestrelServiceFactory : ServiceFactory
{
    public KestrelServiceFactory() => UseKestrel(0);

    public Task<string> StartAsync()
    {
        StartServer();
        return ReadyAddressAsync(Services, TimeSpan.FromSeconds(60));
    }

    /// <summary>The loopback address a factory started on Kestrel listens on, once its models have loaded.</summary>
    public static async Task<string> ReadyAddressAsync(IServiceProvider services, TimeSpan wait)
    {
        await services.GetRequiredService<ModelRepository>().Loaded.WaitAsync(wait);
        await services.GetRequiredService<ModelRepository>().ExplanationsChecked.WaitAsync(wait);
        var addresses = services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
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
        // The page opens on the configured default classifier, not on the first model listed.
        Assert.NotEqual("tiny", await page.EvalOnSelectorAsync<string>("#model", "s => s.options[0].value"));
        Assert.Equal("tiny", await page.InputValueAsync("#model"));
        await page.SelectOptionAsync("#model", "tiny");
        return page;
    }

    [Fact]
    public async Task Classify_explain_compare_then_detect_and_explain_a_detection_in_the_browser()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await OpenAsync(browser);
        var consoleErrors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") consoleErrors.Add(message.Text); };

        // The explanation controls belong to classifiers only.
        Assert.True(await page.IsVisibleAsync("#cam-controls"));
        string image = WriteImage(TestImages.Png(48, 48), "gradient.png");
        await page.SetInputFilesAsync("#file", image);

        await page.WaitForSelectorAsync("#predictions li.prediction");
        await page.WaitForFunctionAsync("() => document.getElementById('cam-caption').textContent.startsWith('gradcam')");
        var labels = await page.Locator("#predictions .label").AllInnerTextsAsync();
        Assert.Equal(3, labels.Count);
        Assert.All(labels, l => Assert.Contains(l, TestModelRepository.Labels));
        await WaitForImageAsync(page, "cam-overlay");
        await WaitForImageAsync(page, "cam-heatmap");
        Assert.Equal(48 * Vision.Imaging.DisplayZoom.For(48, 48, 256), await page.EvaluateAsync<int>("document.getElementById('cam-overlay').naturalWidth"));
        // Shown large: a 48-pixel image is drawn at least 150 CSS pixels wide, with crisp pixels.
        Assert.True(await page.EvaluateAsync<double>("document.getElementById('cam-overlay').getBoundingClientRect().width") >= 150);
        Assert.Equal("pixelated", await page.EvaluateAsync<string>("getComputedStyle(document.getElementById('cam-overlay')).imageRendering"));
        Assert.Contains("gradient", await page.EvaluateAsync<string>("getComputedStyle(document.getElementById('legend-bar')).backgroundImage"));
        Assert.Equal(3, await page.Locator("#faithfulness dt").CountAsync());
        Assert.Contains("tiny", await page.InnerTextAsync("#status"));
        Assert.False(await page.IsVisibleAsync("#busy"));
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "demo-classify.png"), FullPage = true });

        // A CAM method change re-explains the same image.
        await page.SelectOptionAsync("#cam-method", "layercam");
        await page.WaitForFunctionAsync("() => document.getElementById('cam-caption').textContent.startsWith('layercam')");

        // Every method the layer supports, side by side.
        int methods = await page.EvaluateAsync<int>("[...document.getElementById('cam-method').options].filter(o => !o.disabled).length");
        await page.ClickAsync("#compare");
        await page.WaitForFunctionAsync($"() => document.querySelectorAll('#comparison-grid figure').length === {methods} && document.getElementById('busy').hidden");
        Assert.True(methods >= 4, $"{methods} methods");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "demo-compare.png"), FullPage = true });

        // The detector: the explanation controls go, one bright cell is drawn on the overlay and listed, and explained.
        await page.SelectOptionAsync("#model", "detector");
        Assert.False(await page.IsVisibleAsync("#cam-controls"));
        using var bitmap = new SkiaSharp.SKBitmap(64, 64);
        bitmap.Erase(SkiaSharp.SKColors.Black);
        for (int y = 16; y < 32; y++)
            for (int x = 16; x < 32; x++) bitmap.SetPixel(x, y, SkiaSharp.SKColors.White);
        await page.SetInputFilesAsync("#file", WriteImage(TestImages.Encode(bitmap, SkiaSharp.SKEncodedImageFormat.Png), "square.png"));
        await page.WaitForSelectorAsync("#detections li.detection");
        Assert.StartsWith(TestModelRepository.BrightLabel, await page.InnerTextAsync("#detections li.detection"));
        int zoom = Inference.Detection.DetectionOverlay.ZoomFor(64, 64);
        await page.WaitForFunctionAsync($"() => {{ const i = document.getElementById('detection-overlay'); return i.complete && i.naturalWidth === {64 * zoom}; }}");
        Assert.False(await page.IsVisibleAsync("#explanation"));
        await page.ClickAsync("#detections li.detection button.explain");
        await page.WaitForFunctionAsync("() => document.getElementById('cam-caption').textContent.includes('detection')");
        await WaitForImageAsync(page, "cam-overlay");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "demo-detect.png"), FullPage = true });

        Assert.False(await page.IsVisibleAsync("#error"));
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task A_phone_sized_window_shows_the_results_without_sideways_scrolling_and_the_page_works_by_keyboard()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await OpenAsync(browser);
        await page.SetViewportSizeAsync(390, 844);

        // Keyboard: Tab reaches the model list, the drop zone and the file field, each with an accessible name.
        var reached = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            reached.Add(await page.EvaluateAsync<string>("document.activeElement.id"));
        }
        Assert.Contains("model", reached);
        Assert.Contains("drop", reached);
        Assert.Contains("file", reached);
        Assert.Equal("Model", await page.InnerTextAsync("label[for=model]"));
        Assert.Equal("Image file", await page.InnerTextAsync("label[for=file]"));

        await page.SetInputFilesAsync("#file", WriteImage(TestImages.Png(28, 28), "item.png"));
        await page.WaitForFunctionAsync("() => document.getElementById('cam-caption').textContent.length > 0");
        await WaitForImageAsync(page, "cam-overlay");
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways at 390 px");
        // A long layer name (as torchvision's graphs have) stays inside the explanation controls.
        await page.EvaluateAsync("() => document.getElementById('cam-layer').add(new Option('/features/features.12/block/block.3/RffConv_output_0 (256x7x7)', 'long', false, true))");
        Assert.True(await page.EvaluateAsync<bool>(
            "() => { const f = document.getElementById('cam-controls').getBoundingClientRect(), s = document.getElementById('cam-layer').getBoundingClientRect(); return s.right <= f.right && f.right <= window.innerWidth; }"),
            "a long layer name pushes the explanation controls past the page");
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "demo-390px.png"), FullPage = true });
    }

    [Fact]
    public async Task Dragging_a_region_on_the_map_and_switching_it_off_shows_the_prediction_and_the_map_change_side_by_side()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await OpenAsync(browser);
        var consoleErrors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") consoleErrors.Add(message.Text); };
        var ablateRequests = new List<string>();
        page.Request += (_, request) =>
        {
            var query = System.Web.HttpUtility.ParseQueryString(new Uri(request.Url).Query);
            if (query["ablate"] is { } ablate) ablateRequests.Add($"{new Uri(request.Url).AbsolutePath} {ablate} {query["target"]}");
        };

        await page.SetInputFilesAsync("#file", WriteImage(TestImages.Png(48, 48), "gradient.png"));
        await WaitForImageAsync(page, "cam-overlay");
        await page.WaitForSelectorAsync("#intervention:not([hidden])");
        string layer = await page.InputValueAsync("#cam-layer");
        string topLabel = await page.InnerTextAsync("#predictions li.prediction .label");

        // Drag from the overlay's top-left corner to its middle: the top-left quarter of the 48-pixel image.
        var box = (await page.Locator("#cam-overlay").BoundingBoxAsync())!;
        await page.Mouse.MoveAsync(box.X + 1, box.Y + 1);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(box.X + box.Width / 4, box.Y + box.Height / 4, new() { Steps = 4 });
        await page.Mouse.MoveAsync(box.X + box.Width / 2, box.Y + box.Height / 2, new() { Steps = 4 });
        await page.Mouse.UpAsync();
        Assert.True(await page.IsVisibleAsync("#ablate-box"));
        Assert.Matches(@"x 0, y 0, 2[3-5]x2[3-5] pixels", await page.InnerTextAsync("#ablate-region"));

        await page.ClickAsync("#ablate-run");
        await page.WaitForSelectorAsync("#ablate-result:not([hidden])");
        await WaitForImageAsync(page, "ablate-map-before");
        await WaitForImageAsync(page, "ablate-map-after");
        Assert.False(await page.IsVisibleAsync("#busy"));

        // The service was asked for exactly the dragged region of the explanation's layer, and for the same class's map.
        Assert.Equal(2, ablateRequests.Count);
        Assert.Matches($@"^/classify {System.Text.RegularExpressions.Regex.Escape(layer)}:all@0,0,2[3-5],2[3-5] $", ablateRequests[0]);
        Assert.Matches($@"^/cam {System.Text.RegularExpressions.Regex.Escape(layer)}:all@0,0,2[3-5],2[3-5] \d+$", ablateRequests[1]);

        // Side by side: as it is (the same as the classification above) and switched off, which differs.
        var before = await page.Locator("#ablate-before li").AllInnerTextsAsync();
        var after = await page.Locator("#ablate-after li").AllInnerTextsAsync();
        Assert.Equal(await page.Locator("#predictions li").AllInnerTextsAsync(), before);
        Assert.Equal(3, after.Count);
        Assert.NotEqual(before, after);
        Assert.StartsWith(topLabel, before[0]);
        Assert.Matches(@"channel\(s\) in \d+ of \d+ cells set to zero", await page.InnerTextAsync("#ablate-summary"));
        Assert.NotEqual(await page.GetAttributeAsync("#ablate-map-before", "src"), await page.GetAttributeAsync("#ablate-map-after", "src"));
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "demo-intervention.png"), FullPage = true });

        // Top K channels over the whole map, to the blank image's activations.
        await page.ClickAsync("#ablate-clear");
        Assert.False(await page.IsVisibleAsync("#ablate-box"));
        await page.CheckAsync("#ablate-top");
        await page.FillAsync("#ablate-k", "2");
        await page.CheckAsync("#ablate-blank");
        await page.ClickAsync("#ablate-run");
        await page.WaitForFunctionAsync("() => document.getElementById('ablate-summary').textContent.includes('2 channel(s)')");
        Assert.Contains("set to blank", await page.InnerTextAsync("#ablate-summary"));
        Assert.StartsWith($"/classify {layer}:top2=blank", ablateRequests[2]);

        Assert.False(await page.IsVisibleAsync("#error"));
        Assert.Empty(consoleErrors);
    }

    private static Task WaitForImageAsync(IPage page, string id) =>
        page.WaitForFunctionAsync($"() => {{ const i = document.getElementById('{id}'); return i.complete && i.naturalWidth > 0; }}");

    [Fact]
    public async Task An_explanation_answered_503_with_Retry_After_is_asked_again_and_then_shown()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await OpenAsync(browser);
        // The first /cam answers as a model whose explanation layers are still being checked (after a start).
        int calls = 0;
        await page.RouteAsync(new System.Text.RegularExpressions.Regex("/cam\\?"), async route =>
        {
            if (Interlocked.Increment(ref calls) == 1)
                await route.FulfillAsync(new()
                {
                    Status = 503,
                    Headers = new Dictionary<string, string> { ["Retry-After"] = "1" },
                    ContentType = "application/problem+json",
                    Body = """{"title":"Explanations not ready","status":503,"detail":"Model 'tiny' serves, but its explanation layers are still being checked; retry shortly."}""",
                });
            else
                await route.ContinueAsync();
        });
        var retrying = page.WaitForFunctionAsync("() => document.getElementById('status').textContent.includes('Asking again in 1 s')");

        await page.SetInputFilesAsync("#file", WriteImage(TestImages.Png(28, 28), "retried.png"));

        await retrying;
        await page.WaitForFunctionAsync("() => document.getElementById('cam-caption').textContent.startsWith('gradcam')");
        await WaitForImageAsync(page, "cam-overlay");
        Assert.Equal(2, calls);
        Assert.False(await page.IsVisibleAsync("#error"));
    }

    [Fact]
    public async Task A_bad_file_shows_the_problem_detail()
    {
        var (playwright, browser) = await LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await OpenAsync(browser);
        await page.SetInputFilesAsync("#file", WriteImage(TestImages.Png(28, 28), "good.png"));
        await page.WaitForSelectorAsync("#predictions li.prediction");

        await page.SetInputFilesAsync("#file", WriteImage("not an image"u8.ToArray(), "fake.png"));

        await page.WaitForSelectorAsync("#error:not([hidden])");
        Assert.Contains("image", await page.InnerTextAsync("#error"), StringComparison.OrdinalIgnoreCase);
        // Nothing of an earlier answer stays on screen, and the page is not left busy.
        Assert.False(await page.IsVisibleAsync("#classification"));
        Assert.False(await page.IsVisibleAsync("#explanation"));
        Assert.False(await page.IsVisibleAsync("#busy"));
    }
}
