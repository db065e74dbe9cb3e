// The demo page: wires the upload, the search call, the result list and the 3D viewer together.
import { getHealth, searchPhoto } from './api.js';
import { markSelected, renderCategories, renderResults } from './results.js';
import { markSeat, renderSeats } from './seats.js';
import { bindUpload } from './upload.js';
import { ModelViewer, webglAvailable } from './viewer.js';

const $ = (id) => document.getElementById(id);
const ui = {
  form: $('search-form'), input: $('image-input'), dropzone: $('dropzone'), preview: $('query-preview'),
  hint: $('dropzone-hint'), fileName: $('file-name'), topK: $('top-k'), refine: $('refine'), polar: $('polar'),
  azimuth: $('azimuth'), button: $('search-button'), error: $('error'), spinner: $('spinner'),
  placeholder: $('placeholder'), results: $('results'), categories: $('categories'),
  categoriesSection: $('categories-section'), viewerSection: $('viewer-section'), viewer: $('viewer'),
  viewerMessage: $('viewer-message'), viewerTitle: $('viewer-title'), reset: $('reset-pose'),
  health: $('health'), seatsSection: $('seats-section'), seatStatus: $('seat-status'),
  seatImage: $('seat-image'), seatLayer: $('seat-layer'),
};
const state = { file: null, previewUrl: null, results: [], objects: [], viewer: null, searchId: 0 };

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
  if (message) ui.error.scrollIntoView({ block: 'nearest' });
}

function setSearching(searching) {
  ui.spinner.hidden = !searching;
  ui.button.disabled = searching || !state.file;
  ui.results.setAttribute('aria-busy', String(searching));
}

/** The optional true pose: a number, or null when the field is empty (or not a number). */
function angle(input) {
  const value = input.valueAsNumber;
  return Number.isFinite(value) ? value : null;
}

function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  return bytes < 1024 ** 2 ? `${(bytes / 1024).toFixed(0)} KB` : `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

function setFile(file) {
  state.file = file;
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  ui.preview.src = state.previewUrl;
  ui.preview.alt = `Your photo: ${file.name || 'pasted image'}`;
  ui.preview.hidden = false;
  ui.hint.hidden = true;
  ui.fileName.textContent = `${file.name || 'pasted image'} · ${fileSize(file.size)}`;
  ui.button.disabled = false;
  search();
}

function clearAnswer() {
  state.results = [];
  state.objects = [];
  ui.results.replaceChildren();
  ui.seatsSection.hidden = true;
  ui.seatLayer.replaceChildren();
  ui.categoriesSection.hidden = true;
  ui.viewerSection.hidden = true;
  state.viewer?.clear();
}

async function search() {
  if (!state.file) return;
  const searchId = ++state.searchId; // a newer photo or setting supersedes a search still running
  showError('');
  clearAnswer();
  ui.placeholder.hidden = true;
  setSearching(true);
  try {
    const answer = await searchPhoto(state.file, {
      topK: Number(ui.topK.value), polar: angle(ui.polar), azimuth: angle(ui.azimuth),
      refine: ui.refine.checked,
    });
    if (searchId === state.searchId) showAnswer(answer);
  } catch (err) {
    if (searchId !== state.searchId) return;
    showError(`Search failed: ${err.message}`);
    ui.placeholder.hidden = false;
  } finally {
    if (searchId === state.searchId) setSearching(false);
  }
}

function showAnswer({ categories, results, detected, objects = [] }) {
  state.objects = detected ? objects : [];
  ui.seatsSection.hidden = false;
  ui.seatImage.src = state.previewUrl;
  if (state.objects.length) {
    const count = state.objects.length;
    ui.seatStatus.textContent = `${count} seat${count > 1 ? 's' : ''} found: click a box to see its models. `
      + 'Seat 1 is the main one.';
    renderSeats({ layer: ui.seatLayer, image: ui.seatImage }, state.objects, selectSeat);
    selectSeat(0);
    return;
  }
  ui.seatStatus.textContent = 'No seat found in this photo: the models below answer the whole photo.';
  showSeatAnswer(categories, results);
}

/** Show seat `index`'s seat kinds and models, and its best model in 3D. */
function selectSeat(index) {
  const seat = state.objects[index];
  markSeat(ui.seatLayer, index);
  showSeatAnswer(seat.categories, seat.results);
}

function showSeatAnswer(categories, results) {
  state.results = results;
  renderCategories(ui.categories, categories);
  ui.categoriesSection.hidden = categories.length === 0;
  renderResults(ui.results, results, select);
  if (results.length === 0) showError('The index holds no model to compare with.');
  const first = results.findIndex((r) => r.model_url);
  if (first >= 0) select(first);
}

function ensureViewer() {
  if (state.viewer || !webglAvailable()) return state.viewer;
  state.viewer = new ModelViewer(ui.viewer);
  return state.viewer;
}

/** Where the 3D view looks from: the pose (choice 0) or alternative choice - 1, and how to say it. */
function poseChoice(result, choice) {
  const alternative = choice > 0 ? result.pose.alternatives[choice - 1] : null;
  if (!alternative) return { camera: result.pose.camera, title: `${result.name} at the estimated pose` };
  const share = `${Math.round(alternative.probability * 100)} %`;
  return { camera: alternative.camera, title: `${result.name} at an alternative pose (${alternative.side}, ${share})` };
}

async function select(index, choice = 0) {
  const result = state.results[index];
  const { camera, title } = poseChoice(result, choice);
  markSelected(ui.results, index, choice);
  ui.viewerSection.hidden = false;
  ui.viewerTitle.textContent = title;
  const viewer = ensureViewer();
  if (!viewer) return viewerMessage('This browser cannot show 3D (WebGL is not available).');
  viewerMessage('Loading the 3D model…');
  try {
    await viewer.show(result.model_url, camera);
    if (state.results[index] === result) viewerMessage('');
  } catch (err) {
    viewerMessage(`Could not load the 3D model: ${err.message}`);
  }
}

function viewerMessage(text) {
  ui.viewerMessage.textContent = text;
  ui.viewerMessage.hidden = !text;
  ui.viewer.dataset.state = text ? 'message' : 'ready';
}

function describeHealth(health) {
  const { embedder, index } = health;
  const rows = [
    ['Embedder', `${embedder.name}${embedder.layer ? ` (${embedder.layer})` : ''}`],
    ['Weights', embedder.weights ?? 'unknown'],
    ['Index', `${index.models} models · ${index.views} views`],
  ];
  ui.health.replaceChildren(...rows.map(([name, value]) => {
    const row = document.createElement('div');
    const term = document.createElement('dt');
    const text = document.createElement('dd');
    term.textContent = name;
    text.textContent = value;
    row.append(term, text);
    return row;
  }));
}

async function loadHealth() {
  try {
    describeHealth(await getHealth());
  } catch (err) {
    $('health-status').textContent = `unavailable: ${err.message}`;
    ui.health.classList.add('down');
  }
}

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  search();
});
ui.topK.addEventListener('change', search);
ui.refine.addEventListener('change', search);
ui.reset.addEventListener('click', () => state.viewer?.resetPose());
ui.preview.addEventListener('error', () => {
  ui.preview.hidden = true; // not an image the browser can show; the API will say what it thinks
  ui.hint.hidden = false;
});
bindUpload({ input: ui.input, dropzone: ui.dropzone, onFile: setFile });
loadHealth();
