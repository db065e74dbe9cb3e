// Interactive 3D view of a normalised GLB model, with the camera at an estimated pose.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';

// The same camera as the index renderer: vertical fov 35 deg, far enough for the unit-diagonal model
// (centred at the origin) to fit with a 10 % margin, so the default view matches the rendered views.
const FOV_DEG = 35;
const DISTANCE = (0.5 / Math.sin(THREE.MathUtils.degToRad(FOV_DEG / 2))) * 1.1;
const BACKGROUND = 0xeef1f5;

/** True when the browser can create a WebGL context (else the page explains instead of crashing). */
export function webglAvailable() {
  const canvas = document.createElement('canvas');
  return Boolean(canvas.getContext('webgl2') || canvas.getContext('webgl'));
}

/**
 * The catalogue's GLBs come from OBJ/PLY files, which know nothing of metal; their glTF export leaves
 * metallicFactor out and glTF then means 1, which without an environment map renders black. Show every
 * material without a metalness map as non-metal. Returns `root`.
 */
function dielectric(root) {
  root.traverse((node) => {
    const materials = Array.isArray(node.material) ? node.material : [node.material];
    for (const material of materials) {
      if (material?.isMeshStandardMaterial && !material.metalnessMap) material.metalness = 0;
    }
  });
  return root;
}

export class ModelViewer {
  /** @param {HTMLElement} container the element the canvas fills (its CSS sets the size). */
  constructor(container) {
    this.container = container;
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
    const canvas = this.renderer.domElement;
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', '3D view of the selected model at its estimated pose; drag to turn it');
    container.prepend(this.renderer.domElement);

    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(BACKGROUND);
    this.camera = new THREE.PerspectiveCamera(FOV_DEG, 1, 0.01, 20);
    this.addLights();
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.minDistance = DISTANCE * 0.3;
    this.controls.maxDistance = DISTANCE * 4;
    this.controls.addEventListener('change', () => this.render());

    this.loader = new GLTFLoader();
    this.cache = new Map(); // url -> Promise<Object3D>
    this.model = null;
    this.poseCamera = [0, 0, 1];
    this.loadToken = 0;
    new ResizeObserver(() => this.resize()).observe(container);
  }

  addLights() {
    // Plain lights only: an environment map (PMREM) takes ~10 s to build on software WebGL.
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x8a8f99, 2.0));
    // A key light riding on the camera, so whichever side the user turns to stays lit.
    const key = new THREE.DirectionalLight(0xffffff, 1.5);
    key.position.set(0.6, 1.0, 0.4);
    this.camera.add(key);
    this.scene.add(this.camera);
  }

  /**
   * Show the model at `url` seen from `camera`, the unit vector from the model centre to the camera
   * in the canonical frame (x = +X, y = up, z = front). Resolves once drawn; rejects if loading fails.
   */
  async show(url, camera) {
    const token = ++this.loadToken;
    this.poseCamera = camera;
    const model = await this.load(url);
    if (token !== this.loadToken) return; // a later selection won the race
    if (this.model) this.scene.remove(this.model);
    this.model = model;
    this.scene.add(model);
    this.resetPose();
  }

  load(url) {
    if (!this.cache.has(url)) {
      const pending = this.loader.loadAsync(url).then((gltf) => dielectric(gltf.scene));
      pending.catch(() => this.cache.delete(url)); // let a later click try again
      this.cache.set(url, pending);
    }
    return this.cache.get(url);
  }

  /** Back to the estimated pose: camera at DISTANCE * pose vector, looking at the origin, +Y up. */
  resetPose() {
    const [x, y, z] = this.poseCamera;
    this.camera.up.set(0, 1, 0);
    this.camera.position.set(x, y, z).normalize().multiplyScalar(DISTANCE);
    this.controls.target.set(0, 0, 0);
    this.camera.lookAt(0, 0, 0);
    this.controls.update();
    this.render();
  }

  /** Forget loaded models (a new search brings new ones). */
  clear() {
    this.loadToken++;
    if (this.model) this.scene.remove(this.model);
    this.model = null;
    this.cache.clear();
    this.render();
  }

  resize() {
    const { clientWidth: width, clientHeight: height } = this.container;
    if (!width || !height) return;
    this.renderer.setSize(width, height, false);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.render();
  }

  render() {
    this.renderer.render(this.scene, this.camera);
  }
}
