using RffService.Inference.Detection;
using SkiaSharp;

namespace RffService.Inference.Tests;

public class DetectionOverlayTests
{
    [Theory]
    [InlineData(28, 28, 19)]
    [InlineData(128, 128, 4)]
    [InlineData(96, 64, 8)]
    [InlineData(512, 300, 2)]
    [InlineData(600, 800, 1)]
    [InlineData(100, 4000, 1)] // never past the largest side
    public void Small_images_are_drawn_enlarged_by_a_whole_factor(int width, int height, int zoom) =>
        Assert.Equal(zoom, DetectionOverlay.ZoomFor(width, height));

    [Fact]
    public void A_caption_goes_above_its_box_when_there_is_room()
    {
        var box = new SKRect(100, 100, 200, 200);
        var place = DetectionOverlay.CaptionPlace(box, new SKSize(80, 18), 2, 512, 512, [], [box], 0);
        Assert.Equal(82, place.Top);
        Assert.Equal(100, place.Left);
    }

    [Fact]
    public void A_caption_at_the_top_edge_goes_inside_its_box_and_one_at_the_right_edge_stays_in_the_image()
    {
        var box = new SKRect(450, 0, 512, 60);
        var place = DetectionOverlay.CaptionPlace(box, new SKSize(120, 18), 2, 512, 512, [], [box], 0);
        Assert.True(place.Top >= 0 && place.Bottom <= 512 && place.Left >= 0 && place.Right <= 512, place.ToString());
        Assert.Equal(2, place.Top);
    }

    [Fact]
    public void Captions_of_neighbouring_boxes_do_not_cover_each_other()
    {
        // Two boxes side by side with the same top: the second caption would sit on the first one's.
        SKRect a = new(100, 100, 160, 200), b = new(130, 100, 220, 200);
        var size = new SKSize(100, 18);
        var first = DetectionOverlay.CaptionPlace(a, size, 2, 512, 512, [], [a, b], 0);
        var second = DetectionOverlay.CaptionPlace(b, size, 2, 512, 512, [first], [a, b], 1);
        Assert.False(first.IntersectsWith(second), $"{first} and {second}");
    }
}
