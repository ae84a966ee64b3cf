/**
 * The evaluation transform (ClassificationPresetEval): Resize(resizeSize) of the shorter
 * side with antialias (the longer side truncated, as torchvision's
 * `_compute_resized_output_size`), CenterCrop(cropSize) with offsets rounded half to even.
 */
import { roundHalfEven, type RgbImage } from './image.js';
import { resize, type CropBox, type Interpolation } from './resample.js';

/** Output (width, height) of Resize(size) with an int size: the shorter side becomes `size`. */
export function shorterSideSize(width: number, height: number, size: number): [number, number] {
  if (width <= height) return [size, Math.trunc((size * height) / width)];
  return [Math.trunc((size * width) / height), size];
}

/** CenterCrop's box for a crop no larger than the image. */
export function centerCropBox(
  width: number,
  height: number,
  cropW: number,
  cropH: number,
): CropBox {
  if (cropW > width || cropH > height) {
    throw new RangeError(`centerCrop: ${cropW}×${cropH} does not fit in ${width}×${height}`);
  }
  return {
    top: roundHalfEven((height - cropH) / 2),
    left: roundHalfEven((width - cropW) / 2),
    height: cropH,
    width: cropW,
  };
}

export function resizeShorterSide(
  img: RgbImage,
  size: number,
  interpolation: Interpolation,
): RgbImage {
  const [w, h] = shorterSideSize(img.width, img.height, size);
  if (w === img.width && h === img.height) return img;
  return resize(img, w, h, interpolation);
}

/** Resize(resizeSize) then CenterCrop(cropSize), on raw pixels. */
export function evalResizeCrop(
  img: RgbImage,
  resizeSize: number,
  cropSize: number,
  interpolation: Interpolation = 'bilinear',
): RgbImage {
  const resized = resizeShorterSide(img, resizeSize, interpolation);
  const box = centerCropBox(resized.width, resized.height, cropSize, cropSize);
  if (box.width === resized.width && box.height === resized.height) return resized;
  // A crop without resampling: PIL's crop copies the rows.
  return resize(resized, cropSize, cropSize, interpolation, box);
}
