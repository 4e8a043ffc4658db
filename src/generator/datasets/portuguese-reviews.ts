import type { Rng } from "../random.ts";

/** Olist-like review texts: short, informal Portuguese, by score. Most reviews carry no text at all. */
const TITLES: Record<number, string[]> = {
  5: ["Recomendo", "Super recomendo", "Ótimo", "Excelente", "Perfeito", "Muito bom", "Amei"],
  4: ["Bom", "Gostei", "Recomendo", "Bom produto", "Satisfeito"],
  3: ["Razoável", "Mais ou menos", "Regular", "Ok"],
  2: ["Demorou", "Não gostei", "Atraso na entrega"],
  1: ["Péssimo", "Não recebi", "Não recomendo", "Produto errado", "Horrível"],
};
const OPEN: Record<number, string[]> = {
  5: ["Produto excelente", "Chegou antes do prazo", "Entrega super rápida", "Produto de ótima qualidade", "Tudo certo com a compra", "Muito bem embalado"],
  4: ["Produto bom", "Chegou no prazo", "Gostei do produto", "Atendeu as expectativas", "Bom custo benefício"],
  3: ["Produto ok", "O produto é razoável", "Chegou no prazo mas", "Esperava um pouco mais", "A qualidade é mediana"],
  2: ["O produto demorou muito", "Veio com defeito", "A entrega atrasou", "Não era o que eu esperava", "Embalagem danificada"],
  1: ["Não recebi o produto", "Produto diferente do anunciado", "Comprei dois e só veio um", "Até agora nada", "Ninguém responde meus contatos"],
};
const CLOSE: Record<number, string[]> = {
  5: ["recomendo a loja!", "parabéns lannister!", "voltarei a comprar.", "nota 10.", "estou muito satisfeita."],
  4: ["recomendo.", "obrigado.", "tudo certo.", "atendeu."],
  3: ["poderia ser melhor.", "mas serve.", "nada demais."],
  2: ["fiquei decepcionado.", "espero que resolvam.", "não compro mais."],
  1: ["quero meu dinheiro de volta.", "não recomendo essa loja.", "estou aguardando uma solução.", "péssimo atendimento."],
};

export interface ReviewText {
  title: string | null;
  message: string | null;
}

export function reviewText(rng: Rng, score: number): ReviewText {
  // Olist: about 58% of reviews have no message and 88% no title; unhappy buyers write more.
  const writes = rng.chance(score <= 2 ? 0.75 : score === 3 ? 0.5 : 0.35);
  if (!writes) return { title: null, message: null };
  const sep = rng.weighted([[", ", 5], [". ", 4], ["\r\n", 1]]); // some real messages span lines
  const message = `${rng.pick(OPEN[score])}${sep}${rng.pick(CLOSE[score])}`;
  return { title: rng.chance(0.25) ? rng.pick(TITLES[score]) : null, message };
}
