/**
 * Scans an ImageFolder tree exactly as torchvision.datasets.ImageFolder does: classes are the
 * sorted sub-directory names (class index = position), samples are, per class in that order,
 * the files of `sorted(os.walk(class_dir, followlinks=True))` with each directory's names
 * sorted, keeping the image extensions case-insensitively.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError, NotFoundError } from '../../common/errors.js';

export const IMG_EXTENSIONS = [
  '.jpg',
  '.jpeg',
  '.png',
  '.ppm',
  '.bmp',
  '.pgm',
  '.tif',
  '.tiff',
  '.webp',
];

export interface FolderSample {
  path: string;
  /** Path relative to the class directory, '/' separated. */
  rel: string;
  label: number;
}

export interface ImageFolderScan {
  root: string;
  classes: string[];
  samples: FolderSample[];
}

/** Python compares str by code point; JS `<` by UTF-16 unit. Equal outside astral planes. */
function pySort(a: string[]): string[] {
  return a.sort((x, y) => {
    const xa = Array.from(x);
    const ya = Array.from(y);
    for (let i = 0; i < Math.min(xa.length, ya.length); i++) {
      const d = xa[i]!.codePointAt(0)! - ya[i]!.codePointAt(0)!;
      if (d !== 0) return d;
    }
    return xa.length - ya.length;
  });
}

export async function scanImageFolder(root: string): Promise<ImageFolderScan> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    throw new NotFoundError(`ImageFolder not found: ${root}`, { cause: err });
  }
  const classes = pySort(
    (
      await Promise.all(
        entries.map(async (e) => {
          if (e.isDirectory()) return e.name;
          if (e.isSymbolicLink()) {
            const st = await fs.stat(path.join(root, e.name)).catch(() => undefined);
            if (st?.isDirectory()) return e.name;
          }
          return undefined;
        }),
      )
    ).filter((x): x is string => x !== undefined),
  );
  if (classes.length === 0) {
    throw new InputError(`no class folders in ${root}`, [
      { path: root, message: 'an ImageFolder holds one sub-directory of images per class' },
    ]);
  }
  const samples: FolderSample[] = [];
  const empty: string[] = [];
  for (let label = 0; label < classes.length; label++) {
    const classDir = path.join(root, classes[label]!);
    // os.walk yields (dirpath, dirnames, filenames); sorting those tuples orders by dirpath.
    const dirs: { dir: string; files: string[] }[] = [];
    const walk = async (dir: string): Promise<void> => {
      const es = await fs.readdir(dir, { withFileTypes: true });
      const files: string[] = [];
      for (const e of es) {
        const p = path.join(dir, e.name);
        let isDir = e.isDirectory();
        let isFile = e.isFile();
        if (e.isSymbolicLink()) {
          const st = await fs.stat(p).catch(() => undefined);
          isDir = st?.isDirectory() ?? false;
          isFile = st?.isFile() ?? false;
        }
        if (isDir) await walk(p);
        else if (isFile) files.push(e.name);
      }
      dirs.push({ dir, files });
    };
    await walk(classDir);
    const byDir = new Map(dirs.map((d) => [d.dir, d.files]));
    const before = samples.length;
    for (const dir of pySort(dirs.map((d) => d.dir))) {
      for (const f of pySort(byDir.get(dir)!)) {
        if (!IMG_EXTENSIONS.includes(path.extname(f).toLowerCase())) continue;
        const p = path.join(dir, f);
        samples.push({ path: p, rel: path.relative(classDir, p).split(path.sep).join('/'), label });
      }
    }
    if (samples.length === before) empty.push(classes[label]!);
  }
  if (empty.length > 0) {
    // torchvision raises FileNotFoundError here too: a class without images is a broken tree.
    throw new InputError(`no valid image files for ${empty.length} class(es) in ${root}`, [
      { path: root, message: `empty classes: ${empty.slice(0, 10).join(', ')}` },
    ]);
  }
  return { root, classes, samples };
}
